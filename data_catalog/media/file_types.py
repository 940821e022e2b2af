"""The file types sonorize looks for when it searches folders (ffmpeg decides what a named file is)."""

VIDEO_EXTENSIONS = frozenset({
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".wmv", ".flv",
    ".ts", ".mts", ".m2ts", ".3gp", ".ogv", ".mxf",
})
AUDIO_EXTENSIONS = frozenset({
    ".wav", ".wave", ".w64", ".aif", ".aiff", ".aifc", ".caf", ".flac", ".ogg", ".oga", ".opus",
    ".mp3", ".m4a", ".aac", ".wma", ".mka",
})
