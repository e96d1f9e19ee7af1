#!/usr/bin/env python3
"""Independent PyTorch reference of the ECG-FM encoder + NMoE head, and the golden fixtures.

Module names follow fairseq-signals (ecg_transformer.py, conv_feature_extraction.py,
conv_positional_encoding.py, transformer_encoder*.py), so state_dict() keys are the checkpoint's.
The TypeScript ONNX builder (src/model/graph/) is tested against what this script writes:

  python3 scripts/ecgfm_reference.py test/fixtures/model

writes
  ecgfm-small.safetensors  weights (current fairseq-signals names: conv_pos.pos_conv.0.parametrizations.
                           weight.original0/1) + NMoE head, the input, per-layer outputs, gate, probabilities
  ecgfm-small.pt           the same encoder weights as a torch.save zip checkpoint {"model": state_dict}
                           with the older names (encoder.pos_conv.0.weight_g / weight_v)
  ecgfm-small.json         the architecture

  python3 scripts/ecgfm_reference.py --export-full OUT.onnx

exports the full-size architecture (random weights, input (1, 12, 2500)) with torch.onnx.export:
the latency yardstick for `ecg-emotiond bench model --compare OUT.onnx`.

Needs PyTorch (Debian: apt-get install python3-torch). CI does not: it reads the fixtures.
"""
import json
import math
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

SMALL = dict(
    layers=2, dim=64, heads=4, ffn=128, conv_dim=32, conv_layers=4, conv_kernel=2, conv_stride=2,
    pos_conv_kernel=16, pos_conv_groups=4, in_leads=12, head_hidden=32, classes=5, input_samples=2500,
)


class SamePad(nn.Module):
    def __init__(self, kernel):
        super().__init__()
        self.remove = 1 if kernel % 2 == 0 else 0

    def forward(self, x):
        return x[:, :, : -self.remove] if self.remove else x


class FeatureExtractor(nn.Module):
    def __init__(self, a):
        super().__init__()
        layers = []
        n_in = a["in_leads"]
        for i in range(a["conv_layers"]):
            conv = nn.Conv1d(n_in, a["conv_dim"], a["conv_kernel"], stride=a["conv_stride"], bias=False)
            if i == 0:  # "default" mode: one GroupNorm(dim, dim) in the first block
                layers.append(nn.Sequential(conv, nn.Dropout(0.0), nn.GroupNorm(a["conv_dim"], a["conv_dim"], affine=True), nn.GELU()))
            else:
                layers.append(nn.Sequential(conv, nn.Dropout(0.0), nn.GELU()))
            n_in = a["conv_dim"]
        self.conv_layers = nn.ModuleList(layers)

    def forward(self, x):
        for block in self.conv_layers:
            x = block(x)
        return x


class ConvPositionalEncoding(nn.Module):
    def __init__(self, a):
        super().__init__()
        conv = nn.Conv1d(a["dim"], a["dim"], a["pos_conv_kernel"], padding=a["pos_conv_kernel"] // 2, groups=a["pos_conv_groups"])
        conv = nn.utils.weight_norm(conv, name="weight", dim=2)
        self.pos_conv = nn.Sequential(conv, SamePad(a["pos_conv_kernel"]), nn.GELU())

    def forward(self, x):  # x: B x T x C
        return self.pos_conv(x.transpose(1, 2)).transpose(1, 2)


class MultiHeadAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, x):  # B x T x C
        b, t, c = x.shape
        dh = c // self.heads
        q = self.q_proj(x).view(b, t, self.heads, dh).transpose(1, 2) * dh ** -0.5
        k = self.k_proj(x).view(b, t, self.heads, dh).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.heads, dh).transpose(1, 2)
        attn = torch.softmax(q @ k.transpose(-1, -2), dim=-1)
        return self.out_proj((attn @ v).transpose(1, 2).reshape(b, t, c))


class TransformerEncoderLayer(nn.Module):
    """Post-LN (layer_norm_first = False), as ECG-FM."""

    def __init__(self, dim, heads, ffn):
        super().__init__()
        self.self_attn = MultiHeadAttention(dim, heads)
        self.self_attn_layer_norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, ffn)
        self.fc2 = nn.Linear(ffn, dim)
        self.final_layer_norm = nn.LayerNorm(dim)

    def forward(self, x):
        x = self.self_attn_layer_norm(x + self.self_attn(x))
        return self.final_layer_norm(x + self.fc2(F.gelu(self.fc1(x))))


class TransformerEncoder(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.layers = nn.ModuleList([TransformerEncoderLayer(a["dim"], a["heads"], a["ffn"]) for _ in range(a["layers"])])
        self.layer_norm = nn.LayerNorm(a["dim"])


class EcgFm(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.feature_extractor = FeatureExtractor(a)
        self.layer_norm = nn.LayerNorm(a["conv_dim"])
        self.post_extract_proj = nn.Linear(a["conv_dim"], a["dim"])
        self.conv_pos = ConvPositionalEncoding(a)
        self.encoder = TransformerEncoder(a)

    def forward(self, source):
        """source: B x 12 x N → list of per-layer outputs, each B x T x C."""
        x = self.feature_extractor(source).transpose(1, 2)
        x = self.post_extract_proj(self.layer_norm(x))
        x = x + self.conv_pos(x)
        x = self.encoder.layer_norm(x)
        outs = []
        for layer in self.encoder.layers:
            x = layer(x)
            outs.append(x)
        return outs


class NmoeHead(nn.Module):
    """Static gate softmax(w) over the layer outputs, time mean, Dense → BN → ReLU → Dropout → Dense → softmax."""

    def __init__(self, a):
        super().__init__()
        self.gate = nn.Parameter(torch.ones(a["layers"]))
        self.dense1 = nn.Linear(a["dim"], a["head_hidden"])
        self.bn = nn.BatchNorm1d(a["head_hidden"])
        self.dense2 = nn.Linear(a["head_hidden"], a["classes"])

    def forward(self, layer_outputs):
        pooled = torch.stack([o.mean(dim=1) for o in layer_outputs], dim=1)  # B x L x C
        g = torch.softmax(self.gate, dim=0)
        fused = (g[None, :, None] * pooled).sum(dim=1)
        h = F.relu(self.bn(self.dense1(fused)))
        return torch.softmax(self.dense2(h), dim=-1), g, pooled


def randomize(module, gen):
    """Every parameter and buffer random (LayerNorm/BN too), so a mis-wired graph cannot pass."""
    with torch.no_grad():
        for name, p in list(module.named_parameters()) + list(module.named_buffers()):
            if p.dtype != torch.float32:
                continue
            if name.endswith("running_var"):
                p.copy_(torch.rand(p.shape, generator=gen) + 0.5)
            elif name.endswith("weight_g"):
                p.copy_(torch.rand(p.shape, generator=gen) + 0.5)
            else:
                fan_in = p.shape[1] * (p.shape[2] if p.dim() > 2 else 1) if p.dim() > 1 else 4
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(fan_in))


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, t in tensors.items():
        data = t.detach().contiguous().to(torch.float32).numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text.encode())
        for b in blobs:
            f.write(b)


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    a = SMALL
    gen = torch.Generator().manual_seed(20251123)
    model, head = EcgFm(a).eval(), NmoeHead(a).eval()
    randomize(model, gen)
    randomize(head, gen)
    # One lead (slot 0 = lead I); the other 11 are zero, as in single-lead use.
    lead = torch.randn(a["input_samples"], generator=gen)
    source = torch.zeros(1, a["in_leads"], a["input_samples"])
    source[0, 0] = lead
    with torch.no_grad():
        outs = model(source)
        probs, gate, pooled = head(outs)

    state = model.state_dict()
    new_style = {}
    for k, v in state.items():  # torch 1.13 writes weight_g/weight_v; current fairseq-signals, parametrizations
        k = k.replace("pos_conv.0.weight_g", "pos_conv.0.parametrizations.weight.original0")
        k = k.replace("pos_conv.0.weight_v", "pos_conv.0.parametrizations.weight.original1")
        new_style[k] = v
    tensors = dict(new_style)
    tensors.update({f"nmoe.{k}": v for k, v in head.state_dict().items() if v.dtype == torch.float32})
    tensors["golden.input"] = lead
    tensors["golden.layer_outputs"] = torch.stack([o[0] for o in outs])  # L x T x C
    tensors["golden.pooled"] = pooled[0]  # L x C
    tensors["golden.gate"] = gate
    tensors["golden.probabilities"] = probs[0]
    write_safetensors(os.path.join(out_dir, "ecgfm-small.safetensors"), tensors)

    old_style = {k.replace("conv_pos.pos_conv", "encoder.pos_conv"): v for k, v in state.items()}
    torch.save({"model": old_style, "args": None, "cfg": {"model": {"encoder_layers": a["layers"]}}},
               os.path.join(out_dir, "ecgfm-small.pt"))
    with open(os.path.join(out_dir, "ecgfm-small.json"), "w") as f:
        camel = {"".join(w.capitalize() if i else w for i, w in enumerate(k.split("_"))): v for k, v in a.items()}
        json.dump({"arch": camel, "torch": torch.__version__, "seed": 20251123}, f, indent=2)
    print("wrote fixtures to", out_dir, "probabilities", probs[0].tolist())


def fairseq_layouts(out_dir):
    """The same small model as fairseq-signals saves it after fine-tuning: the encoder under
    encoder.w2v_model., a task head (proj) beside it, an omegaconf cfg whose w2v_args hold the
    pretraining architecture; and a legacy (non-zip) torch.save file."""
    from omegaconf import OmegaConf
    a = SMALL
    gen = torch.Generator().manual_seed(20251123)
    model, head = EcgFm(a).eval(), NmoeHead(a).eval()
    randomize(model, gen)
    randomize(head, gen)
    state = model.state_dict()
    # The same seed as main(): ecgfm-small.safetensors' golden outputs hold for these weights (the
    # test checks that the imported package reproduces them).
    pretrain = {
        "_name": "ecg_transformer", "encoder_layers": a["layers"], "encoder_embed_dim": a["dim"],
        "encoder_ffn_embed_dim": a["ffn"], "encoder_attention_heads": a["heads"],
        "conv_feature_layers": f"[({a['conv_dim']}, {a['conv_kernel']}, {a['conv_stride']})] * {a['conv_layers']}",
        "conv_pos": a["pos_conv_kernel"], "conv_pos_groups": a["pos_conv_groups"], "in_d": a["in_leads"],
    }
    cfg = OmegaConf.create({"model": {"_name": "ecg_transformer_classifier", "num_labels": 26,
                                      "w2v_args": {"model": pretrain}}})
    finetuned = {f"encoder.w2v_model.{k}": v for k, v in state.items()}
    finetuned["proj.weight"] = torch.randn(26, a["dim"], generator=gen)
    finetuned["proj.bias"] = torch.zeros(26)
    torch.save({"model": finetuned, "cfg": cfg, "optimizer_history": [{"lr": 1e-4}]},
               os.path.join(out_dir, "ecgfm-small-finetuned.pt"))
    torch.save({"model": {"x": torch.zeros(2)}}, os.path.join(out_dir, "legacy.pt"),
               _use_new_zipfile_serialization=False)
    print("wrote", out_dir, "ecgfm-small-finetuned.pt and legacy.pt")


FULL = dict(SMALL, layers=12, dim=768, heads=12, ffn=3072, conv_dim=256, pos_conv_kernel=128,
            pos_conv_groups=16, head_hidden=256)


class Exported(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.model, self.head = EcgFm(a).eval(), NmoeHead(a).eval()

    def forward(self, source):
        probs, gate, _ = self.head(self.model(source))
        return probs, gate


def export_full(path, leads=12):
    """The full-size architecture exported by PyTorch (the latency yardstick for `bench model`)."""
    m = Exported(FULL).eval()
    randomize(m, torch.Generator().manual_seed(1))
    torch.onnx.export(m, torch.randn(1, leads, FULL["input_samples"]), path, opset_version=17,
                      input_names=["ecg"], output_names=["probabilities", "gate_weights"])
    print("wrote", path)


def export_small(path):
    """A single-lead small ECG-FM + NMoE as an OEM would export it from PyTorch, with a dynamic
    batch axis: the fixture `model import --onnx` is tested with."""
    a = dict(SMALL, in_leads=1)
    m = Exported(a).eval()
    randomize(m, torch.Generator().manual_seed(1))
    torch.onnx.export(m, torch.randn(1, 1, a["input_samples"]), path, opset_version=17,
                      input_names=["ecg"], output_names=["probabilities", "gate_weights"],
                      dynamic_axes={"ecg": {0: "batch"}, "probabilities": {0: "batch"}})
    print("wrote", path)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--export-small":
        export_small(sys.argv[2])  # python3 scripts/ecgfm_reference.py --export-small OUT.onnx
    elif len(sys.argv) > 1 and sys.argv[1] == "--fairseq-layouts":
        fairseq_layouts(sys.argv[2] if len(sys.argv) > 2 else "test/fixtures/model")
    elif len(sys.argv) > 1 and sys.argv[1] == "--export-full":
        export_full(sys.argv[2])  # python3 scripts/ecgfm_reference.py --export-full OUT.onnx
    else:
        main(sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/model")
