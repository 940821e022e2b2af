"""Every pretrained weight the project uses: where it comes from, what it is, who uses it.

Sizes and hashes come from the publishers (Hugging Face LFS pointers, torch hub
file names, Zenodo md5 sums) where they are public. Where they are not
(``None``), the first ``sonorize models pull`` records the sha256 it saw in the
store's ``pulled.json`` and every later check compares against that.

Hugging Face repositories are named as the libraries that load them name them
(``roberta-base``, not ``FacebookAI/roberta-base``): the cache folder is derived
from that id, so laion_clap's ``from_pretrained("roberta-base")`` finds it offline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from data_catalog.model_store.errors import UnknownWeightError

UNKNOWN = "unknown: recorded on first pull"

# Pickled training checkpoints carry metadata besides tensors (a Hydra config, Lightning
# callback state). Objects from these modules load as inert placeholders: never constructed,
# never called (see loading.py); everything else outside torch's weights-only allowlist is refused.
TRAINING_METADATA_GLOBALS = (
    "omegaconf.", "pytorch_lightning.", "lightning.", "lightning_fabric.", "typing.",
    "collections.", "builtins.", "pathlib.", "argparse.", "numpy.", "_codecs.",
)


@dataclass(frozen=True)
class WeightFile:
    """One file of a weight.

    Parameters
    ----------
    filename : str
        Path inside the Hugging Face repository, or the local file name of a URL download.
    url : str or None
        Direct download address (URL sources only).
    size : int or None
        Bytes, where published.
    sha256 : str or None
        Full hex sha256, where published.
    sha256_prefix : str or None
        The hash prefix torch hub file names carry (``...-ff5fadd5.pth``).
    md5 : str or None
        Hex md5, where that is all the publisher gives (Zenodo).
    """

    filename: str
    url: str | None = None
    size: int | None = None
    sha256: str | None = None
    sha256_prefix: str | None = None
    md5: str | None = None

    @property
    def has_published_hash(self) -> bool:
        return bool(self.sha256 or self.sha256_prefix or self.md5)


@dataclass(frozen=True)
class HubRepo:
    """A Hugging Face repository, laid out in the store as a hub cache."""

    repo_id: str
    revision: str = "main"  # a 40-hex commit where known, so the bytes cannot move
    repo_type: str = "model"

    @property
    def web_url(self) -> str:
        prefix = {"model": "", "dataset": "datasets/", "space": "spaces/"}[self.repo_type]
        return f"https://huggingface.co/{prefix}{self.repo_id}"


@dataclass(frozen=True)
class WeightSpec:
    """A named pretrained weight.

    Parameters
    ----------
    name : str
        What ``sonorize models pull NAME`` takes.
    description : str
        One line: what it is.
    stage : str
        The pipeline stage(s) that load it (SPEC numbering in words).
    licence : str
        The licence its publisher states.
    file_format : str
        ``"safetensors"``, ``"torch"`` (a pickle, loaded weights-only), ``"json"`` or ``"tokenizer"``.
    files : tuple of WeightFile
        The files; the first is the one :meth:`ModelStore.path` returns.
    hub : HubRepo or None
        Set for Hugging Face items (downloaded with ``hf_hub_download``).
    manual_url : str or None
        For items no program can fetch: the page a person downloads it from.
    inert_globals : tuple of str
        Module prefixes whose pickled objects load as inert placeholders.
    notes : str
        Anything a user must know (gating, choice of checkpoint).
    """

    name: str
    description: str
    stage: str
    licence: str
    file_format: str
    files: tuple[WeightFile, ...]
    hub: HubRepo | None = None
    manual_url: str | None = None
    inert_globals: tuple[str, ...] = ()
    notes: str = ""
    source: str = field(init=False)

    def __post_init__(self) -> None:
        if not self.files:
            raise ValueError(f"{self.name}: a weight needs at least one file")
        if self.hub is None and self.manual_url is None and any(f.url is None for f in self.files):
            raise ValueError(f"{self.name}: a non-hub file needs a url (or the spec a manual_url)")
        if self.hub is not None:
            source = f"hf:{self.hub.repo_id}@{self.hub.revision}" + (
                f" ({self.hub.repo_type})" if self.hub.repo_type != "model" else "")
        elif self.manual_url is not None:
            source = f"manual: {self.manual_url}"
        else:
            source = self.files[0].url or ""
        object.__setattr__(self, "source", source)

    @property
    def size(self) -> int | None:
        """Total published bytes, or None when any file's size is unknown."""
        sizes = [f.size for f in self.files]
        return None if any(s is None for s in sizes) else sum(sizes)  # type: ignore[arg-type]


def _hf(repo_id: str, revision: str, *files: WeightFile, repo_type: str = "model") -> dict:
    return {"hub": HubRepo(repo_id, revision, repo_type), "files": files}


_ENTRIES: tuple[WeightSpec, ...] = (
    WeightSpec(
        name="raft-large",
        description="RAFT large optical flow (torchvision Raft_Large_Weights.C_T_SKHT_V2)",
        stage="5 optical flow",
        licence="BSD-3-Clause (torchvision)",
        file_format="torch",
        files=(WeightFile(
            "raft_large_C_T_SKHT_V2-ff5fadd5.pth",
            url="https://download.pytorch.org/models/raft_large_C_T_SKHT_V2-ff5fadd5.pth",
            sha256="ff5fadd56d26b40647388883af1547351ea17868b765c05b27231e72dd16a322",
            sha256_prefix="ff5fadd5"),),
        notes="Lies where torch.hub looks when TORCH_HOME=<model_dir>/torch, so "
              "torchvision's raft_large(weights=C_T_SKHT_V2) also finds it offline.",
    ),
    WeightSpec(
        name="tc-clip",
        description="TC-CLIP ViT-B/16, zero-shot protocol (trained on all of Kinetics-400)",
        stage="6 frame features (RGB and flow)",
        licence="CC-BY-NC-4.0 (NAVER)",
        file_format="torch",
        files=(WeightFile("zero_shot_k400_tc_clip.pth"),),
        manual_url="https://drive.google.com/drive/folders/1gAB3LtNzVerkVerifgJFRL0WciPvrAlR",
        inert_globals=TRAINING_METADATA_GLOBALS,
        notes="Published only in a Google Drive folder (naver-ai/tc-clip README): download it "
              "there, then `sonorize models pull tc-clip --from FILE`. The checkpoint is "
              "{'model', 'optimizer', 'lr_scheduler', 'config', ...}; keys carry 'module.'. "
              "Chosen over the fully-supervised release (not in the store: nothing loads it): trained with "
              "the text side for generalization beyond K400's classes, which suits Foley videos.",
    ),
    WeightSpec(
        name="bn-inception",
        description="BN-Inception ImageNet (TSN port; RegNet / Video-Foley's feature baseline)",
        stage="6 frame features (alternative, 1024 + 1024)",
        licence="not stated for the weights (TSN code: BSD-2-Clause)",
        file_format="torch",
        files=(WeightFile(
            "bn_inception-9f5701afb96c8044.pth",
            url="https://yjxiong.blob.core.windows.net/models/bn_inception-9f5701afb96c8044.pth",
            sha256_prefix="9f5701afb96c8044"),),
        notes="BN weights are stored [1, C] in this file (old PyTorch); squeeze them before "
              "a strict load.",
    ),
    WeightSpec(
        name="cavp",
        description="CAVP video encoder (Diff-Foley stage 1), cavp_epoch66.ckpt",
        stage="10 synthesis conditioning (video embedding at 4 fps)",
        licence="MIT (HF model card); Diff-Foley code Apache-2.0",
        file_format="torch",
        inert_globals=TRAINING_METADATA_GLOBALS,
        **_hf("SimianLuo/Diff-Foley", "b17ddbe76e6d42f4b4135eeb443b1c1644267e3e",
              WeightFile("diff_foley_ckpt/cavp_epoch66.ckpt", size=1_361_483_035,
                         sha256="3472c2217a9481f530a96e32611c9e4611766f10b7f0d185a1ce35be7b7f9c80")),
        notes="A Lightning checkpoint: the weights are under 'state_dict'.",
    ),
    WeightSpec(
        name="laion-clap",
        description="LAION-CLAP HTSAT-tiny, 630k-audioset-best.pt (non-fusion)",
        stage="10 synthesis conditioning (CLAP audio/text embedding); 14 CLAP score, FAD-LAION-CLAP",
        licence="CC0-1.0 (LAION-AI/CLAP, lukewys/laion_clap)",
        file_format="torch",
        inert_globals=TRAINING_METADATA_GLOBALS,
        **_hf("lukewys/laion_clap", "b3708341862f581175dba5c356a4ebf74a9b6651",
              WeightFile("630k-audioset-best.pt", size=1_863_587_645)),
        notes="laion_clap's own default for enable_fusion=False (load_ckpt() model_id 1) and "
              "fadtk's 'clap-laion-audio': general sound events (LAION-Audio-630K + AudioSet), "
              "not the music/speech-tuned HTSAT-base ones; non-fusion matches 10 s chunks. "
              "Needs the bert-base-uncased, roberta-base and facebook/bart-base entries too.",
    ),
    WeightSpec(
        name="stable-audio-open",
        description="Stable Audio Open 1.0 (DiT + Oobleck VAE), model.safetensors + model_config.json",
        stage="10 synthesis",
        licence="Stability AI Community License (gated: accept it on the model page)",
        file_format="safetensors",
        **_hf("stabilityai/stable-audio-open-1.0", "main",
              WeightFile("model.safetensors"), WeightFile("model_config.json")),
        notes="Gated: accept the licence at https://huggingface.co/stabilityai/stable-audio-open-1.0 "
              "and log in (`hf auth login` or HF_TOKEN) before pulling. Revision not pinned: "
              "the pull records the commit it got. Its T5 prompt conditioner loads t5-base.",
    ),
    WeightSpec(
        name="audiosep",
        description="AudioSep base separator, audiosep_base_4M_steps.ckpt",
        stage="12 source separation (dataset preprocessing)",
        licence="MIT (Audio-AGI/AudioSep)",
        file_format="torch",
        inert_globals=TRAINING_METADATA_GLOBALS,
        **_hf("Audio-AGI/AudioSep", "5638854dccfaea5c5fa4f634c00fe74fbb119244",
              WeightFile("checkpoint/audiosep_base_4M_steps.ckpt", size=1_264_844_076,
                         sha256="f8cda01bfd0ebd141eef45d41db7a3ada23a56568465840d3cff04b8010ce82c"),
              repo_type="space"),
        notes="A Lightning checkpoint: the separator under 'ss_model.', the frozen LAION-CLAP (HTSAT-base + "
              "RoBERTa) it trained with under 'query_encoder.model.' (what `sonorize separate` loads; "
              "'audiosep-clap' only for a checkpoint without it). laion_clap needs roberta-base, "
              "bert-base-uncased and bart-base.",
    ),
    WeightSpec(
        name="audiosep-clap",
        description="LAION-CLAP HTSAT-base music_speech_audioset_epoch_15_esc_89.98.pt (AudioSep's query encoder)",
        stage="12 source separation",
        licence="CC0-1.0 (LAION-CLAP), shipped in the MIT AudioSep Space",
        file_format="torch",
        inert_globals=TRAINING_METADATA_GLOBALS,
        **_hf("Audio-AGI/AudioSep", "5638854dccfaea5c5fa4f634c00fe74fbb119244",
              WeightFile("checkpoint/music_speech_audioset_epoch_15_esc_89.98.pt", size=2_352_471_003,
                         sha256="51c68f12f9d7ea25fdaaccf741ec7f81e93ee594455410f3bca4f47f88d8e006"),
              repo_type="space"),
    ),
    WeightSpec(
        name="panns-wavegram-logmel",
        description="PANNs Wavegram-Logmel-Cnn14 32 kHz (mAP 0.439)",
        stage="14 metrics (FAD-P: the 2048-d fc1 embedding)",
        licence="CC-BY-4.0 (the Zenodo record that publishes the weights; the PANNs code is MIT)",
        file_format="torch",
        inert_globals=TRAINING_METADATA_GLOBALS,
        files=(WeightFile("Wavegram_Logmel_Cnn14_mAP=0.439.pth",
                          url="https://zenodo.org/records/3987831/files/Wavegram_Logmel_Cnn14_mAP%3D0.439.pth?download=1",
                          md5="17fa9ab65af3c0eb5ffbc5f65552c4e1"),),
    ),
    WeightSpec(
        name="msclap-2023",
        description="MS-CLAP 2023 (HTS-AT audio encoder + GPT-2 text encoder), CLAP_weights_2023.pth",
        stage="14 metrics (FAD-C: the audio encoder's 1024-d projection, fadtk 'clap-2023')",
        licence="MS-PL (microsoft/msclap model card; the msclap code is MIT)",
        file_format="torch",
        inert_globals=TRAINING_METADATA_GLOBALS,
        **_hf("microsoft/msclap", "main", WeightFile("CLAP_weights_2023.pth")),
        notes="Only the 'audio_encoder.*' entries are loaded (msclap's HTS-AT + projection, built "
              "without GPT-2). Revision not pinned: the pull records the sha256 it got. Needs the "
              "msclap package (`pip install --no-deps msclap==1.3.4`).",
    ),
    WeightSpec(
        name="vggish",
        description="VGGish AudioSet embedding, PyTorch port (harritaylor/torchvggish vggish-10086976.pth)",
        stage="14 metrics (FAVD audio features, 128-d per 0.96 s)",
        licence="Apache-2.0 (tensorflow/models audioset; torchvggish port)",
        file_format="torch",
        files=(WeightFile("vggish-10086976.pth",
                          url="https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish-10086976.pth",
                          sha256_prefix="10086976"),),
        notes="The raw embedding (before PCA whitening) is used, as the FAVD toolkit's extractor saves it.",
    ),
    WeightSpec(
        name="i3d-rgb",
        description="I3D RGB stream, Kinetics-400 (DeepMind kinetics-i3d ported: hassony2 model_rgb.pth)",
        stage="14 metrics (FAVD video features, 1024-d per 64 frames at 25 fps)",
        licence="Apache-2.0 (deepmind/kinetics-i3d; hassony2/kinetics_i3d_pytorch port)",
        file_format="torch",
        files=(WeightFile("model_rgb.pth",
                          url="https://github.com/hassony2/kinetics_i3d_pytorch/raw/master/model/model_rgb.pth"),),
        notes="The same file v-iashin/video_features loads as i3d_rgb.pt (the FAVD toolkit's extractor).",
    ),
    WeightSpec(
        name="bert-base-uncased",
        description="bert-base-uncased tokenizer (laion_clap builds it at import)",
        stage="10 CLAP text side; 14 metrics",
        licence="Apache-2.0",
        file_format="tokenizer",
        **_hf("bert-base-uncased", "86b5e0934494bd15c9632b12f734a8a67f723594",
              WeightFile("vocab.txt", size=231_508,
                         sha256="07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"),
              WeightFile("tokenizer_config.json", size=48,
                         sha256="a025160ef0431f1a392f6f050c1310f4c5d9fb6f275932dbccba73c4d214bf10"),
              WeightFile("tokenizer.json", size=466_062,
                         sha256="ce64fce797c24f68df90b40a3f74f579b336a493db14bd583fd520ea0d8c9a98"),
              WeightFile("config.json")),
    ),
    WeightSpec(
        name="roberta-base",
        description="roberta-base tokenizer and text model (CLAP's text encoder)",
        stage="10 CLAP text side; 12 AudioSep queries; 14 metrics",
        licence="MIT",
        file_format="safetensors",
        **_hf("roberta-base", "e2da8e2f811d1448a5b465c236feacd80ffbac7b",
              WeightFile("model.safetensors", size=498_818_054,
                         sha256="5bde1d28afb363d0103324efeb5afc8b2b397fe5e04beabb9b1ef355255ade81"),
              WeightFile("config.json"), WeightFile("vocab.json"), WeightFile("merges.txt"),
              WeightFile("tokenizer.json")),
    ),
    WeightSpec(
        name="bart-base",
        description="facebook/bart-base tokenizer (laion_clap builds it at import)",
        stage="10 CLAP text side; 14 metrics",
        licence="Apache-2.0",
        file_format="tokenizer",
        **_hf("facebook/bart-base", "aadd2ab0ae0c8268c7c9693540e9904811f36177",
              WeightFile("vocab.json"), WeightFile("merges.txt"), WeightFile("config.json")),
    ),
    WeightSpec(
        name="t5-base",
        description="t5-base tokenizer and encoder (Stable Audio Open's prompt conditioner)",
        stage="10 synthesis (text prompt conditioning of the base model)",
        licence="Apache-2.0",
        file_format="safetensors",
        **_hf("t5-base", "a9723ea7f1b39c1eae772870f3b547bf6ef7e6c1",
              WeightFile("model.safetensors"), WeightFile("config.json"), WeightFile("spiece.model"),
              WeightFile("tokenizer.json")),
        notes="stable-audio-tools' T5Conditioner calls from_pretrained('t5-base') when the "
              "model is built from model_config.json; not part of model.safetensors.",
    ),
)

REGISTRY: Mapping[str, WeightSpec] = {spec.name: spec for spec in _ENTRIES}


def get_spec(name: str, registry: Mapping[str, WeightSpec] | None = None) -> WeightSpec:
    """The entry called ``name``; :class:`UnknownWeightError` lists the known names otherwise."""
    registry = REGISTRY if registry is None else registry
    try:
        return registry[name]
    except KeyError:
        raise UnknownWeightError(name, list(registry)) from None
