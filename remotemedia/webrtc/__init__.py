"""WebRTC bridge (aiortc): browser microphone audio into pipelines, results back live.

Planned; see remotemedia/webrtc/README.md.
"""
