"""Every setting of attnseg in one place: its type, default, valid values and help.

The ground floor: this file imports only the states (attnseg.states), the errors, how a setting is declared and
checked (attnseg.fields) and the model's architectures (attnseg.architectures), and everything else reads it
downward, the model included. States are enums (`Backend.EAGER`, `DropPolicy.WAIT`, ...), each also
a `str`, so `Backend.EAGER == "eager"` and JSON writes "eager"; they are named here too. Settings are
frozen dataclasses, validated when built, grouped by what reads them:

    PAPER             what the method fixes (SPEC 2-6): the defaults below start from it
    ViTConfig, STConfig, VIT_PRESETS   the model's architecture presets (SPEC 3, 4; defined in architectures.py)
    ModelSettings     the weights, the ViT and the device (Segmenter.from_settings)
    SegmentSettings     how a clip is segmented: resolution, window, key frames, tau, front-end backend, kernels,
                      chunks (window, key frames and tau live too)
    StreamSettings      the streaming algorithm: causal windows, key-frame memory, track linking
    RuntimeSettings   the streaming runtime: drop policy, queues, disconnects, stalls
    SessionSettings   one session, every face: the four above, checked across each other once
    RosbagSettings    rosbag2 output topics and encodings
    RosNodeSettings   the ROS 2 node's own parameters (QoS, stale frames, diagnostics)
    ExportSettings    exported artifacts; TritonRepoSettings: the Triton model repository
    RaySettings       batches on a Ray cluster

Every interface derives from these fields, so a default is written once, here: the CLI's options
(generated from the fields and their help, attnseg/cli/options.py), the ROS 2 node's parameters
(attnseg/integrations/ros_params.py), the Triton repository's streaming model, the Ray actors and the latency
suite. Faces with other needs start from a named preset (attnseg/presets.py) instead of new defaults.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .architectures import VIT_PRESETS, STConfig, ViTConfig, vit_config  # noqa: F401 - read from here too
from .errors import SettingError
from .fields import choices as _choices, finite as _finite, positive as _positive, setting
from .states import (  # noqa: F401
    Backend,
    BagStorage,
    Choice,
    Device,
    DropPolicy,
    EndReason,
    FrontEndMode,
    Kernels,
    LabelEncoding,
    Normalization,
    OnDisconnect,
    Precision,
    Reliability,
    WeightsSource,
)


@dataclass(frozen=True)
class PaperSettings:
    """The paper's settings (SPEC 2, 5, 6): every default below that the method fixes."""

    arch: str = "vit_small_8"
    resolution: tuple[int, int] = (320, 480)  # frames resized to (H, W) before the ViT
    ratio: int = 10  # a key frame every `ratio` frames
    tau: float = 1.0  # the symmetric-KL threshold
    window: int = 3  # query frames clustered together
    normalization: Normalization = Normalization.KINETICS  # the statistics the evaluation feeds


PAPER = PaperSettings()

# (mean, std) per channel, RGB (SPEC 2): what the evaluation feeds, and what the backbone was trained with
NORMALIZATION: dict[Normalization, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    Normalization.KINETICS: ((0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989)),
    Normalization.IMAGENET: ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


# Random weights' ST q/k rows are scaled by a gain: attention sharp enough that the clustering finds tens of regions
# (at 1, the plain init, every frame is one object). How many a gain gives moves steeply with the patch size, the
# frame's tokens and the path (a stream's 3-frame windows fragment more than a clip's piece), so it is chosen per
# ViT and size: benchmarks/random_gain.py bisects, for each preset on its own path, the smallest gain whose median
# over the sample clip and DAVIS clips reaches 10 regions a frame (benchmarks/results/random_gain.json). Between
# two measured sizes the gain is interpolated in log(tokens a frame); beyond them the nearest is kept.
RANDOM_QK_GAINS: dict[int, tuple[tuple[int, float], ...]] = {  # patch size -> (tokens a frame, gain), ascending
    16: ((150, 5.5),),  # live: vit_small_16 160x240, streamed (30 frames a clip)
    8: ((640, 5.9), (768, 5.9), (2400, 6.1)),  # bench 160x256, sample 192x256 (30 frames); cli 320x480 (12)
}


def random_qk_gain(arch: str, resolution: tuple[int, int]) -> float:
    """The q/k gain random weights get for this ViT at this resolution (RANDOM_QK_GAINS)."""
    patch = vit_config(arch).patch_size
    tokens = (resolution[0] // patch) * (resolution[1] // patch)
    points = RANDOM_QK_GAINS[patch]
    if tokens <= points[0][0]:
        return points[0][1]
    for (n0, g0), (n1, g1) in zip(points, points[1:]):
        if tokens <= n1:
            share = math.log(tokens / n0) / math.log(n1 / n0)
            return round(g0 + share * (g1 - g0), 2)
    return points[-1][1]

# `--backend auto` on a clip shorter than this (its frames known before the work) takes what it measured before, else
# eager, measuring nothing: building and timing the ONNX front-ends (30-40 s on 2 cores) costs more than they save on
# a short clip (about a quarter of its front-end's seconds), and a newcomer's first run is a short clip
AUTO_MEASURE_FRAMES = 300

# `--backend auto` and the exported backends build their artifacts into the cache ($ATTNSEG_CACHE/artifacts, tens of
# MB each): the most recently used this many are kept
ARTIFACT_CACHE_FILES = 4

# The frame rate of frames that do not say theirs: folders, arrays, a video whose header lacks it, a stream's
# overlay video and its rosbag2 stamps
DEFAULT_FPS = 24.0
# a network stream (rtsp://, http://): how long opening it may take, and a read may wait, before it counts as lost
NETWORK_OPEN_TIMEOUT = 10.0  # seconds: a host that never answers fails within this
NETWORK_READ_TIMEOUT = 5.0  # seconds: a server that stops sending is a disconnect (reconnect, or the end)
# FFmpeg's options for a network stream (OPENCV_FFMPEG_CAPTURE_OPTIONS, when the user set none): without them the
# frames it reads while opening come in a burst, the first ~1 s old (benchmarks/rtsp_latency.py: 0.1 s with them)
NETWORK_CAPTURE_OPTIONS = "fflags;nobuffer|flags;low_delay"

# The largest frame read (pixels, from its header before decoding): 8K video is 33 MP; a frame beyond is refused
MAX_FRAME_PIXELS = 64 * 2**20
MAX_RESOLUTION = 4096  # the largest side frames are resized to for the ViT: a 4K camera's (the paper's: 480)
MAX_QOS_DEPTH = 1000  # the ROS 2 node's QoS history: images DDS keeps per reader (1000 of 1 MB: a GB already)

# Long videos (SPEC 10): how `chunk` = None (auto) plans them (attnseg.engine.offline.planning)
SINGLE_PIECE_MAX = 150  # a clip up to this many frames is one piece, as the paper segments DAVIS
AUTO_CHUNK = 120  # a longer video is cut into balanced chunks of at most this many frames
MEMORY_SHARE = 0.8  # of the memory available, what one piece may plan to use


@dataclass(frozen=True)
class ModelSettings:
    """The weights, the ViT and the device: what Segmenter.from_checkpoint builds."""

    checkpoint: str | None = setting(None, "the paper's checkpoint (backbone + ST block, from the authors' release) "
                                     "or any format of docs/checkpoints.md",
                                     group="weights")
    dino_weights: str | None = setting(None, "DINO backbone weights only: runs DINO-only (not the paper's method)",
                                       group="weights")
    random_weights: bool = setting(False, "random weights (meaningless masks, announced as such): a run with no "
                                   "weights at hand, smoke runs and benchmarks; their ST q/k rows sharpened by "
                                   "qk_gain (--qk-gain)", group="weights")
    arch: str = setting(PAPER.arch, "ViT preset of the weights", choices="arch")
    device: Device = setting(Device.CPU, "where the front-end and the clustering run")
    seed: int = setting(0, "seed of the random weights")
    qk_gain: float | None = setting(None, "random weights: the scale of their ST q/k rows; sharper attention gives "
                                    "more regions (1: plain DINO-style init, one object); by default chosen for the "
                                    "arch and resolution so that tens of regions show (attnseg.settings."
                                    "RANDOM_QK_GAINS)")

    def __post_init__(self):
        _choices(self, device=Device)
        vit_config(self.arch)  # refuse an unknown arch now, before any loading
        given = [n for n in ("checkpoint", "dino_weights", "random_weights") if getattr(self, n)]
        if len(given) > 1:
            raise SettingError(f"choose one weight source, got {', '.join(given)}")

    @property
    def patch_size(self) -> int:
        return vit_config(self.arch).patch_size

    def build_kwargs(self) -> dict:
        """The keywords of Segmenter.from_checkpoint (and of the Ray actors, which rebuild it)."""
        return {"checkpoint": self.checkpoint, "dino_weights": self.dino_weights,
                "random_weights": self.random_weights, "arch": self.arch, "seed": self.seed,
                "qk_gain": self.qk_gain, "device": self.device.value}


@dataclass(frozen=True)
class SegmentSettings:
    """How a clip is segmented: the paper's settings by default (SPEC 2, 5, 6)."""

    resolution: tuple[int, int] = setting(PAPER.resolution, "the size frames are resized to before the ViT",
                                          nargs=2, metavar=("H", "W"))
    ratio: int = setting(PAPER.ratio, "a key frame every RATIO frames (live: processed frames)")
    tau: float = setting(PAPER.tau, "symmetric-KL threshold of the clustering (live: and of track linking)")
    window: int = setting(PAPER.window, "query frames clustered together (live: each frame with its predecessors, "
                                        "or with --no-causal a fixed window whose frames wait for its last)")
    normalization: Normalization = setting(PAPER.normalization, "input statistics: kinetics "
                                           "(the paper's evaluation) or imagenet (its training)")
    batch_size: int = setting(8, "frames per front-end batch")
    backend: Backend = setting(Backend.EAGER, "front-end: auto (the fastest with exact labels here: on a CPU "
                               "eager, onnxruntime or openvino fp32, measured once), eager (= torch), compiled "
                               "(torch.compile), or an exported form: onnxruntime, openvino (the ONNX file, CPU), "
                               "tensorrt, aoti")
    artifact: str | None = setting(None, "file of `attnseg export` for an exported backend (default: built once "
                                   "into the cache and reused)")
    precision: Precision | None = setting(None, "exported backends (default: the format's own: fp32, tensorrt "
                                          "fp16; openvino bf16 only on a CPU with bf16 instructions)")
    threads: int | None = setting(None, "onnxruntime's intra-op threads (default: onnxruntime's own, one per core)")
    kernels: Kernels = setting(Kernels.AUTO, "clustering: auto (on CUDA the fastest of torch, triton and "
                               "certified, measured; else torch), torch (the reference), triton, certified "
                               "(bf16 products with exact recomputation where they cannot decide)")
    chunk: int | None = setting(None, "frames per chunk of a long video, its ids linked across chunks by the KL "
                                "threshold; 0: the whole video in one piece, refused when it cannot fit in memory "
                                f"(default: one piece up to {SINGLE_PIECE_MAX} frames, else balanced chunks of at "
                                f"most {AUTO_CHUNK})")
    link_max_age: int = setting(4, "chunks a lost object keeps its id (chunked videos)")
    link_tokens: int = setting(64, "query tokens kept per object to link chunks (its appearance)")

    def __post_init__(self):
        _choices(self, normalization=Normalization, backend=Backend, precision=Precision, kernels=Kernels)
        if self.chunk is not None and self.chunk < 0:
            raise SettingError(f"chunk must be >= 1 frames, or 0 for one piece, got {self.chunk}")
        if self.link_max_age < 0:
            raise SettingError(f"link_max_age must be >= 0, got {self.link_max_age}")
        _positive(self, "link_tokens")
        if (self.artifact or self.precision) and not self.backend.exported:
            exported = ", ".join(b.value for b in Backend if b.exported)
            raise SettingError(f"artifact and precision apply to the exported backends ({exported}), "
                               f"not {self.backend}")
        _positive(self, "ratio", "window", "batch_size")
        _finite(self, "tau")
        res = tuple(self.resolution)
        if len(res) != 2 or any(not isinstance(v, int) or v < 1 for v in res):
            raise SettingError(f"resolution must be two positive integers (height, width), got {self.resolution}")
        if max(res) > MAX_RESOLUTION:
            raise SettingError(f"resolution {res[0]}x{res[1]}: each side at most {MAX_RESOLUTION} (what a 4K camera "
                               "sends; the paper's is 320x480)")
        object.__setattr__(self, "resolution", res)



CHUNK_FIELDS = ("chunk", "link_max_age", "link_tokens")  # offline only: a live stream has windows, not chunks


@dataclass(frozen=True)
class StreamSettings:
    """The streaming algorithm (docs/streaming.md): windows against a rolling memory of key frames. Its window,
    key-frame ratio and tau are the clip's (SegmentSettings): one field each, offline and live."""

    causal: bool = setting(True, "each frame's labels leave as soon as it is clustered, in a window of itself and "
                                 "its already-segmented predecessors (off: the paper's fixed windows)",
                           flag="--no-causal")
    memory: int = setting(4, "key frames kept in the rolling memory (the oldest leaves)")
    max_age: int = setting(10, "windows a lost object keeps its id (re-found after short occlusions)")
    track_tokens: int = setting(64, "query tokens kept per track (its appearance)")

    def __post_init__(self):
        _positive(self, "memory", "track_tokens")
        _finite(self, "max_age")


@dataclass(frozen=True)
class RuntimeSettings:
    """The streaming runtime around the algorithm (attnseg.engine.live.runtime.StreamRuntime.stream)."""

    realtime: bool = setting(False, "play a file or folder at its own FPS, as a camera: what the engine has no "
                                    "time for is carried or dropped (else: as fast as possible, every frame waits)")
    drop: DropPolicy | None = setting(None, "frame queue policy (default: drop-oldest for cameras, URLs and what "
                                            "plays in real time; wait for the rest)")
    queue_size: int = setting(2, "frames waiting for the front-end")
    on_disconnect: OnDisconnect = setting(OnDisconnect.END, "a live source that disconnects ends the stream, or "
                                                            "is reopened")
    reconnect_attempts: int = setting(3, "reopenings of a disconnected source before the stream ends")
    loop: bool = setting(False, "play a file, folder or synthetic source again from its start each time it ends "
                                "(until Ctrl-C)")
    stall_timeout: float | None = setting(10.0, "seconds without a frame that end the stream")
    max_frames: int | None = setting(None, "stop after this many captured frames (default: at the source's end)")
    warm_up: bool = setting(True, "compile before the first frame (front-end, and with Triton every window "
                                  "shape)", flag="--no-warm-up")
    carry: bool = setting(True, "a frame the engine cannot take gets the last labels carried to it by optical flow, "
                                "flagged as carried (live sources)", flag="--no-carry")

    def __post_init__(self):
        _choices(self, drop=DropPolicy, on_disconnect=OnDisconnect)
        _positive(self, "queue_size")
        _finite(self, "stall_timeout", strict=True)
        if self.max_frames is not None:
            _positive(self, "max_frames")
        if self.reconnect_attempts < 0:
            raise SettingError(f"reconnect_attempts must be >= 0, got {self.reconnect_attempts}")


@dataclass(frozen=True)
class RosbagSettings:
    """rosbag2 output (attnseg.integrations.rosbag), without ROS."""

    topic: str = setting("/attnseg/labels", "label maps topic (sensor_msgs/Image)", flag="--rosbag-topic")
    overlay_topic: str = setting("/attnseg/overlay", "overlay topic (rgb8), when the overlay is written",
                                 flag="--rosbag-overlay-topic")
    encoding: LabelEncoding = setting(LabelEncoding.MONO16, "label image encoding (mono16: ids up to 65535)",
                                      flag="--rosbag-encoding")
    storage: BagStorage = setting(BagStorage.SQLITE3, "rosbag2 storage plugin", flag="--rosbag-storage")
    frame_id: str = setting("camera", "header frame_id of the messages", flag="--frame-id")

    def __post_init__(self):
        _choices(self, encoding=LabelEncoding, storage=BagStorage)


@dataclass(frozen=True)
class RosNodeSettings:
    """The ROS 2 node's own parameters (attnseg.integrations.ros_params); its session's come from SessionSettings."""

    label_encoding: LabelEncoding = setting(LabelEncoding.MONO16, "label image encoding (mono16: ids up to 65535)")
    publish_overlay: bool = setting(False, "also publish the colour overlay (rgb8) on `overlay`")
    reliability: Reliability = setting(Reliability.BEST_EFFORT, "QoS reliability of the subscription and "
                                                                 "publishers: best_effort or reliable")
    qos_depth: int = setting(1, "QoS history depth")
    max_frame_age: float = setting(0.5, "seconds: an image whose header stamp is older is dropped unprocessed "
                                        "(0: never)")
    latency_budget_ms: float = setting(1000.0, "diagnostics turn WARN when the p99 latency (arrival to labels) "
                                               "exceeds this")
    diagnostics_period: float = setting(1.0, "seconds between /diagnostics messages")

    def __post_init__(self):
        _choices(self, label_encoding=LabelEncoding, reliability=Reliability)
        _positive(self, "qos_depth")
        if self.qos_depth > MAX_QOS_DEPTH:
            raise SettingError(f"qos_depth must be at most {MAX_QOS_DEPTH} (images kept per reader), got "
                               f"{self.qos_depth}")
        _finite(self, "max_frame_age")
        _finite(self, "latency_budget_ms", "diagnostics_period", strict=True)


@dataclass(frozen=True)
class ExportSettings:
    """An exported front-end (attnseg.export.export)."""

    max_batch: int = setting(32, "largest batch of frames per call")

    def __post_init__(self):
        _positive(self, "max_batch")


@dataclass(frozen=True)
class TritonRepoSettings:
    """The Triton Inference Server model repository (attnseg.export.triton_repo)."""

    plan: str | None = setting(None, "a TensorRT plan of `attnseg export --format tensorrt` built on the serving "
                                     "GPU: adds attnseg_frontend_trt and routes the streaming model to it")
    trt_accelerator: bool = setting(False, "let ONNX Runtime run the front-end through its TensorRT execution "
                                           "provider")
    max_cameras: int = setting(8, "camera sequences batched per execution")

    def __post_init__(self):
        _positive(self, "max_cameras")


@dataclass(frozen=True)
class RaySettings:
    """Batches on a Ray cluster (attnseg.integrations.ray_batch)."""

    address: str | None = setting(None, "Ray cluster address (default: a local cluster, or RAY_ADDRESS)")
    actors: int | None = setting(None, "Ray actors (default: one per GPU of the cluster, else 1)")
    cpus_per_actor: float = setting(1.0, "CPUs reserved per actor")
    max_retries: int = setting(3, "attempts of a video whose worker died, after the first")

    def __post_init__(self):
        if self.actors is not None:
            _positive(self, "actors")
        _finite(self, "cpus_per_actor", strict=True)
        _finite(self, "max_retries")


@dataclass(frozen=True)
class SessionSettings:
    """Everything one session runs with (attnseg.engine.session.Session), each setting in one field: the weights
    and ViT, how clips are segmented (window, ratio and tau too when live), the streaming algorithm and the runtime
    around it. The CLI, the demo, the ROS 2 node's parameters and the Ray actors fill one; what depends on two
    parts is checked here, once, where it is made (the resolution against the ViT's patches), so nothing
    downstream checks or copies again. A face's own choices start from a preset (attnseg.presets)."""

    model: ModelSettings = ModelSettings()
    segment: SegmentSettings = SegmentSettings()
    stream: StreamSettings = StreamSettings()
    runtime: RuntimeSettings = RuntimeSettings()

    def __post_init__(self):
        for name, cls in (("model", ModelSettings), ("segment", SegmentSettings), ("stream", StreamSettings),
                          ("runtime", RuntimeSettings)):
            if not isinstance(getattr(self, name), cls):
                raise SettingError(f"{name} must be {cls.__name__}, got {type(getattr(self, name)).__name__}")
        h, w = self.segment.resolution
        patch = self.model.patch_size
        if h % patch or w % patch:  # before any decoding or loading
            raise SettingError(f"resolution {h}x{w} is not a multiple of the patch size {patch}")
