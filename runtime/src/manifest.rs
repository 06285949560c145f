//! Version-1 manifests: JSON Schema validation (the same schema file the Python SDK
//! uses) and the chain order, with errors naming the node and field at fault.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::{Map, Value as Json};

use crate::error::{Error, Result};

/// The manifest schema, shared with `remotemedia/core/manifest.py`.
pub const SCHEMA_TEXT: &str = include_str!("../../remotemedia/core/manifest.schema.json");

static VALIDATOR: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
    let schema: Json = serde_json::from_str(SCHEMA_TEXT).expect("manifest.schema.json is JSON");
    jsonschema::draft202012::new(&schema).expect("manifest.schema.json is a valid schema")
});

/// What the pipeline does when a node fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Stop and raise `PipelineError` (default).
    #[default]
    Raise,
    /// Emit `NodeError` records and go on.
    Emit,
}

/// Pipeline options.
#[derive(Debug, Clone, Deserialize)]
pub struct Options {
    /// Failure policy.
    #[serde(default)]
    pub on_error: OnError,
    /// Capacity of each queue between stages.
    #[serde(default = "default_queue_size")]
    pub queue_size: usize,
}

fn default_queue_size() -> usize {
    8
}

impl Default for Options {
    fn default() -> Self {
        Options {
            on_error: OnError::Raise,
            queue_size: default_queue_size(),
        }
    }
}

/// One node entry.
#[derive(Debug, Clone, Deserialize)]
pub struct NodeEntry {
    /// Unique id (the node's name).
    pub id: String,
    /// Registry name of the node type.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Constructor arguments.
    #[serde(default)]
    pub config: Map<String, Json>,
}

impl NodeEntry {
    /// The entry as JSON (for handing to the Python registry).
    pub fn to_json(&self) -> Json {
        serde_json::json!({"id": self.id, "type": self.type_name, "config": self.config})
    }
}

/// One edge between node ids.
#[derive(Debug, Clone, Deserialize)]
pub struct Edge {
    /// Upstream node id.
    pub from: String,
    /// Downstream node id.
    pub to: String,
}

/// A parsed, validated manifest.
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    /// Format version (always 1).
    pub version: u32,
    /// Pipeline name.
    #[serde(default)]
    pub name: Option<String>,
    /// Node entries as listed.
    pub nodes: Vec<NodeEntry>,
    /// Edges; `None` means list order.
    #[serde(default)]
    pub edges: Option<Vec<Edge>>,
    /// Options.
    #[serde(default)]
    pub options: Options,
}

/// Formats a JSON pointer like Python's `_location`: `manifest['nodes'][0]['id']`,
/// prefixed by `node 'id', field 'f'` when it points into a node.
fn location(pointer: &str, manifest: &Json) -> String {
    let parts: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect();
    let mut path = String::from("manifest");
    for p in &parts {
        if p.parse::<usize>().is_ok() {
            path.push_str(&format!("[{p}]"));
        } else {
            path.push_str(&format!("['{p}']"));
        }
    }
    if parts.len() >= 2 && parts[0] == "nodes" {
        if let Ok(index) = parts[1].parse::<usize>() {
            let id = manifest["nodes"][index]["id"]
                .as_str()
                .map_or_else(|| format!("#{index}"), str::to_string);
            let field = if parts.len() > 2 {
                parts[2..].join(".")
            } else {
                "node".to_string()
            };
            return format!("node '{id}', field '{field}' ({path})");
        }
    }
    path
}

/// Parses and validates manifest JSON text.
///
/// # Errors
/// [`Error::Manifest`] for invalid JSON, schema violations (naming node and field),
/// duplicate ids and edges that do not form one chain.
pub fn parse(text: &str) -> Result<Manifest> {
    let json: Json = serde_json::from_str(text)
        .map_err(|e| Error::manifest(format!("manifest is not valid JSON: {e}")))?;
    parse_value(json)
}

/// Validates an already parsed JSON value; see [`parse`].
pub fn parse_value(json: Json) -> Result<Manifest> {
    if !json.is_object() {
        return Err(Error::manifest(format!(
            "manifest must be a JSON object, got {}",
            json_type_name(&json)
        )));
    }
    let mut errors: Vec<(String, String)> = VALIDATOR
        .iter_errors(&json)
        .map(|e| (e.instance_path.as_str().to_string(), e.to_string()))
        .collect();
    errors.sort_by_key(|e| path_key(&e.0));
    if let Some((pointer, message)) = errors.first() {
        return Err(Error::manifest(format!(
            "{}: {message}",
            location(pointer, &json)
        )));
    }
    let manifest: Manifest = serde_json::from_value(json)
        .map_err(|e| Error::manifest(format!("manifest does not match the schema: {e}")))?;
    manifest.chain()?;
    Ok(manifest)
}

/// Sort key for JSON pointers that orders array indices numerically.
fn path_key(pointer: &str) -> Vec<(u8, usize, String)> {
    pointer
        .split('/')
        .skip(1)
        .map(|p| match p.parse::<usize>() {
            Ok(i) => (0, i, String::new()),
            Err(_) => (1, 0, p.to_string()),
        })
        .collect()
}

fn json_type_name(json: &Json) -> &'static str {
    match json {
        Json::Null => "NoneType",
        Json::Bool(_) => "bool",
        Json::Number(n) if n.is_f64() => "float",
        Json::Number(_) => "int",
        Json::String(_) => "str",
        Json::Array(_) => "list",
        Json::Object(_) => "dict",
    }
}

impl Manifest {
    /// The node entries in data-flow order (same rules as `ordered_entries`).
    ///
    /// # Errors
    /// [`Error::Manifest`] on duplicate ids, unknown edge ends, branches, cycles or
    /// unreachable nodes.
    pub fn chain(&self) -> Result<Vec<&NodeEntry>> {
        let mut by_id: HashMap<&str, &NodeEntry> = HashMap::new();
        for entry in &self.nodes {
            if by_id.insert(&entry.id, entry).is_some() {
                return Err(Error::manifest(format!(
                    "node '{}': duplicate node id",
                    entry.id
                )));
            }
        }
        let Some(edges) = &self.edges else {
            return Ok(self.nodes.iter().collect());
        };
        let mut next: HashMap<&str, &str> = HashMap::new();
        let mut has_prev: HashSet<&str> = HashSet::new();
        for edge in edges {
            for end in [&edge.from, &edge.to] {
                if !by_id.contains_key(end.as_str()) {
                    return Err(Error::manifest(format!(
                        "edge {{'from': '{}', 'to': '{}'}}: unknown node id '{end}'",
                        edge.from, edge.to
                    )));
                }
            }
            if next.contains_key(edge.from.as_str()) {
                return Err(Error::manifest(format!(
                    "node '{}': more than one outgoing edge; version 1 manifests describe \
                     a linear chain",
                    edge.from
                )));
            }
            if !has_prev.insert(&edge.to) {
                return Err(Error::manifest(format!(
                    "node '{}': more than one incoming edge",
                    edge.to
                )));
            }
            next.insert(&edge.from, &edge.to);
        }
        let starts: Vec<&str> = self
            .nodes
            .iter()
            .map(|e| e.id.as_str())
            .filter(|id| !has_prev.contains(id))
            .collect();
        if !self.nodes.is_empty() && starts.len() != 1 {
            return Err(Error::manifest(format!(
                "edges must join all nodes into one chain; chains start at {starts:?}"
            )));
        }
        let mut order = Vec::new();
        let mut current = starts.first().copied();
        while let Some(id) = current {
            order.push(by_id[id]);
            if order.len() > self.nodes.len() {
                return Err(Error::manifest("edges form a cycle"));
            }
            current = next.get(id).copied();
        }
        if order.len() != self.nodes.len() {
            let reached: HashSet<&str> = order.iter().map(|e| e.id.as_str()).collect();
            let mut missing: Vec<&str> = by_id
                .keys()
                .copied()
                .filter(|id| !reached.contains(id))
                .collect();
            missing.sort_unstable();
            return Err(Error::manifest(format!(
                "nodes not reached by the edges: {missing:?}"
            )));
        }
        Ok(order)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        match parse(text) {
            Err(Error::Manifest(m)) => m,
            other => panic!("expected a manifest error, got {other:?}"),
        }
    }

    #[test]
    fn parses_a_chain() {
        let m = parse(
            r#"{"version": 1, "name": "p", "nodes": [
                {"id": "b", "type": "Gain", "config": {"db": -6}},
                {"id": "a", "type": "Resample", "config": {"target_rate": 16000}}],
               "edges": [{"from": "a", "to": "b"}],
               "options": {"on_error": "emit", "queue_size": 4}}"#,
        )
        .unwrap();
        let ids: Vec<&str> = m.chain().unwrap().iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(m.options.on_error, OnError::Emit);
        assert_eq!(m.options.queue_size, 4);
    }

    #[test]
    fn schema_errors_name_node_and_field() {
        let m = err(r#"{"version": 1, "nodes": [{"id": "g1", "type": "Gain", "config": 3}]}"#);
        assert!(
            m.starts_with("node 'g1', field 'config' (manifest['nodes'][0]['config'])"),
            "{m}"
        );
        let m = err(r#"{"version": 1, "nodes": [{"id": "g1", "type": "Gain", "bogus": 1}]}"#);
        assert!(m.starts_with("node 'g1', field 'node'"), "{m}");
        let m = err(r#"{"version": 2, "nodes": []}"#);
        assert!(m.starts_with("manifest['version']"), "{m}");
        let m = err(r#"{"version": 1, "nodes": [{"id": "9x", "type": "Gain"}]}"#);
        assert!(m.contains("field 'id'"), "{m}");
    }

    #[test]
    fn bad_json_and_graphs() {
        assert!(err("{").starts_with("manifest is not valid JSON"));
        assert!(err("[]").contains("must be a JSON object"));
        let dup =
            r#"{"version": 1, "nodes": [{"id": "a", "type": "X"}, {"id": "a", "type": "Y"}]}"#;
        assert_eq!(err(dup), "node 'a': duplicate node id");
        let branch = r#"{"version": 1, "nodes": [{"id": "a", "type": "X"}, {"id": "b", "type": "X"},
            {"id": "c", "type": "X"}], "edges": [{"from": "a", "to": "b"}, {"from": "a", "to": "c"}]}"#;
        assert!(err(branch).contains("more than one outgoing edge"));
        let unknown = r#"{"version": 1, "nodes": [{"id": "a", "type": "X"}],
            "edges": [{"from": "a", "to": "z"}]}"#;
        assert!(err(unknown).contains("unknown node id 'z'"));
    }
}
