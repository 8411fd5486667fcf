"""A remote-code architecture shaped like the original Qwen-7B (`model_type: qwen`): transformer.h
blocks with a fused attention `c_attn`, RMSNorms `ln_1`/`ln_2`, and an MLP `w1`, `w2`, `c_proj`
computing c_proj(w1(x) · silu(w2(x))). Loaded with trust_remote_code by test_remote_code.py."""

from transformers import PretrainedConfig


class QwenLikeConfig(PretrainedConfig):
    model_type = "qwenlike"

    def __init__(self, vocab_size=300, hidden_size=64, num_hidden_layers=3, num_attention_heads=4, intermediate_size=128,
                 max_position_embeddings=128, layer_norm_epsilon=1e-6, **kwargs):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.max_position_embeddings = max_position_embeddings
        self.layer_norm_epsilon = layer_norm_epsilon
        super().__init__(**kwargs)
