"""See configuration_qwenlike.py."""

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import CausalLMOutput

from .configuration_qwenlike import QwenLikeConfig


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class QWenAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.heads = cfg.num_attention_heads
        self.c_attn = nn.Linear(cfg.hidden_size, 3 * cfg.hidden_size)
        self.c_proj = nn.Linear(cfg.hidden_size, cfg.hidden_size, bias=False)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.c_attn(x).split(d, dim=-1)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).reshape(b, t, d))


class QWenMLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        ff = cfg.intermediate_size // 2
        self.w1 = nn.Linear(cfg.hidden_size, ff, bias=False)
        self.w2 = nn.Linear(cfg.hidden_size, ff, bias=False)
        self.c_proj = nn.Linear(ff, cfg.hidden_size, bias=False)

    def forward(self, x):
        return self.c_proj(self.w1(x) * F.silu(self.w2(x)))


class QWenBlock(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.ln_1 = RMSNorm(cfg.hidden_size, cfg.layer_norm_epsilon)
        self.attn = QWenAttention(cfg)
        self.ln_2 = RMSNorm(cfg.hidden_size, cfg.layer_norm_epsilon)
        self.mlp = QWenMLP(cfg)

    def forward(self, hidden_states, **kwargs):
        h = hidden_states + self.attn(self.ln_1(hidden_states))
        return (h + self.mlp(self.ln_2(h)),)


class QWenModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.wte = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.h = nn.ModuleList(QWenBlock(cfg) for _ in range(cfg.num_hidden_layers))
        self.ln_f = RMSNorm(cfg.hidden_size, cfg.layer_norm_epsilon)

    def forward(self, input_ids):
        x = self.wte(input_ids)
        for block in self.h:
            x = block(x)[0]
        return self.ln_f(x)


class QwenLikeForCausalLM(PreTrainedModel):
    config_class = QwenLikeConfig
    base_model_prefix = "transformer"

    def __init__(self, cfg):
        super().__init__(cfg)
        self.transformer = QWenModel(cfg)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        self.post_init()

    def _init_weights(self, module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.2)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)

    def get_input_embeddings(self):
        return self.transformer.wte

    def get_output_embeddings(self):
        return self.lm_head

    def forward(self, input_ids=None, labels=None, attention_mask=None, use_cache=None, **kwargs):
        logits = self.lm_head(self.transformer(input_ids))
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100)
        return CausalLMOutput(loss=loss, logits=logits)
