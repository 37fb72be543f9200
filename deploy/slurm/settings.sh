# Settings shared by precompute.sbatch and train.sbatch: edit them once. Every path must be the
# same on every node (a shared file system). Workers and training must use identical options:
# the stores are keyed by them, and a worker with other options is refused.
DATA=/shared/datasets/my-images           # one sub-folder per class
CLIP=/shared/models/clip-vit-b16          # CLIP folder in the Hugging Face layout
BACKBONE=/shared/models/resnet50.onnx
FEATURE_TENSOR=/layer4/layer4.2/relu_2/Relu_output_0
LOGITS_TENSOR=logits
CACHE=/shared/cache/salf-my-images        # the shared cache folder (stores and job records)
CONCEPTS=/shared/concepts/my-images.txt   # training only
OUT=/shared/models/salf-my-images         # training only: the trained model
DEVICE=cuda                               # cpu or cuda
COMMON=(--data "$DATA" --clip "$CLIP" --backbone "$BACKBONE" --feature-tensor "$FEATURE_TENSOR"
        --logits-tensor "$LOGITS_TENSOR" --grid 7x7 --val-fraction 0.1 --skip-bad
        --device "$DEVICE" --cache-dir "$CACHE")
