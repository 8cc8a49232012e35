"""Speech behind the IVR's ports: the vosk recogniser and the pyttsx3/espeak-ng prompt renderer.

Nothing here is imported by the call flow itself; entry points build these objects (loading a
model once per process) and hand them to the flow as ports.
"""
