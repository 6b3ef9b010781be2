"""Seeing faces: the CenterFace detector (through DeepFace's Detector interface), its weights,
and head pose from the five landmarks."""
