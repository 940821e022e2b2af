"""Every sample rate and frame rate, in one place: the pipeline's (SPEC stages) and each pretrained model's input.

Sample rates in Hz (int), frame rates in frames per second (float). The
pipeline's rates are fixed by the papers (FolAI, Video-Foley) and the stages of
SPEC.md; a model's input rate is what its published weights were trained on.
"""

# The pipeline
VIDEO_FRAME_RATE = 30.0  # SPEC stage 3 / FolAI IV-C: "we first convert each video to 30 fps" (300 frames per 10 s)
ENVELOPE_SAMPLE_RATE = 16000  # SPEC stages 4 and 7 / FolAI III-B: envelopes are the RMS of 16 kHz mono audio
ENVELOPE_FRAME_RATE = 125.0  # SPEC stage 7: 16 kHz / hop 128 (folai_models.envelope.HOP_LENGTH): 1250 per 10 s
OUTPUT_SAMPLE_RATE = 44100  # SPEC stages 10 and 13 / FolAI IV-D: Stable Audio Open's 44.1 kHz stereo output
CAVP_FRAME_RATE = 4.0  # SPEC stage 10 / FolAI IV-D2 (Diff-Foley): "CAVP takes as input video at 4 fps"

# Pretrained models' inputs
CLAP_SAMPLE_RATE = 48000  # LAION-CLAP's audio branch (HTSAT) expects 48 kHz mono
AUDIOSEP_SAMPLE_RATE = 32000  # AudioSep config/audiosep_base.yaml: sampling_rate (mono)
AISFX_SAMPLE_RATE = 44100  # aiSFX (Ma & Lerch, ISMIR 2022) inference.SAMPLE_RATE: the FAD-SFX embedding's input
PANNS_SAMPLE_RATE = 32000  # audioset_tagging_cnn: the 32 kHz PANNs (mAP 0.439)
MSCLAP_SAMPLE_RATE = 44100  # msclap config_2023.yml sampling_rate
VGGISH_SAMPLE_RATE = 16000  # vggish_params.SAMPLE_RATE
I3D_FRAME_RATE = 25.0  # video_features: Kinetics' frame rate, what I3D was trained at
