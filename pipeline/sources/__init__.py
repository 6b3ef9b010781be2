"""Frame readers: video files, image files and folders, watched folders and live cameras.

Every reader yields ``SampledFrame`` records (BGR uint8 pixels plus where they sit in time),
so the detection stage never needs to know where footage came from. Bad input of any kind
raises ``pipeline.errors.InputError`` with a title and a sentence for the user.
"""

from pipeline.sources.camera import iter_camera_frames
from pipeline.sources.frames import (
    SampledFrame,
    check_readable_file,
    check_readable_folder,
    content_hash,
)
from pipeline.sources.images import (
    IMAGE_SUFFIXES,
    ImageFolderScan,
    check_image_file,
    image_timestamp,
    iter_image_folder,
    list_image_files,
    read_image,
    reduction_factor,
    scan_image_folder,
)
from pipeline.sources.video import VIDEO_SUFFIXES, VideoInfo, iter_video_frames, probe_video
from pipeline.sources.watch import watch_folder

__all__ = [
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "ImageFolderScan",
    "SampledFrame",
    "VideoInfo",
    "check_image_file",
    "check_readable_file",
    "check_readable_folder",
    "content_hash",
    "image_timestamp",
    "iter_camera_frames",
    "iter_image_folder",
    "iter_video_frames",
    "list_image_files",
    "probe_video",
    "read_image",
    "reduction_factor",
    "scan_image_folder",
    "watch_folder",
]
