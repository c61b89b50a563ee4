"""Tiny models of the four families optlib targets, small enough to compile in seconds."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.down is None else self.down(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + identity)


class TinyResNet(nn.Module):
    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.layer1 = BasicBlock(16, 16)
        self.layer2 = BasicBlock(16, 32, stride=2)
        self.dw = nn.Conv2d(32, 32, 3, 1, 1, groups=32)
        self.dw_bn = nn.BatchNorm2d(32, affine=False)
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(32, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.stem(x)))
        x = self.layer2(self.layer1(x))
        x = self.dw_bn(self.dw(x))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(self.dropout(x))


class TinyBert(nn.Module):
    """Embeddings + a 2-layer post-norm encoder written out by hand (as BERT is)."""

    def __init__(self, vocab: int = 100, hidden: int = 32, heads: int = 4, layers: int = 2, seq: int = 16) -> None:
        super().__init__()
        self.heads = heads
        self.tok = nn.Embedding(vocab, hidden)
        self.pos = nn.Embedding(seq, hidden)
        self.norm = nn.LayerNorm(hidden)
        self.layers = nn.ModuleList(
            nn.ModuleDict(
                {
                    "qkv": nn.Linear(hidden, 3 * hidden),
                    "out": nn.Linear(hidden, hidden),
                    "ln1": nn.LayerNorm(hidden),
                    "ff1": nn.Linear(hidden, 4 * hidden),
                    "ff2": nn.Linear(4 * hidden, hidden),
                    "ln2": nn.LayerNorm(hidden),
                    "drop": nn.Dropout(0.1),
                }
            )
            for _ in range(layers)
        )
        self.pool = nn.Linear(hidden, hidden)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        b, s = ids.shape
        x = self.norm(self.tok(ids) + self.pos(torch.arange(s, device=ids.device)))
        for layer in self.layers:
            q, k, v = layer["qkv"](x).view(b, s, 3, self.heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
            attn = F.scaled_dot_product_attention(q, k, v)
            x = layer["ln1"](x + layer["drop"](layer["out"](attn.transpose(1, 2).reshape(b, s, -1))))
            x = layer["ln2"](x + layer["drop"](layer["ff2"](F.gelu(layer["ff1"](x)))))
        return torch.tanh(self.pool(x[:, 0]))


class TinyDLRM(nn.Module):
    def __init__(self, dense: int = 13, tables: int = 4, rows: int = 50, dim: int = 16) -> None:
        super().__init__()
        self.bottom = nn.Sequential(nn.Linear(dense, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, dim), nn.ReLU())
        self.embeddings = nn.ModuleList(nn.EmbeddingBag(rows, dim, mode="sum") for _ in range(tables))
        n = tables + 1
        self.top = nn.Sequential(nn.Linear(n * (n - 1) // 2 + dim, 32), nn.ReLU(), nn.Linear(32, 1))

    def forward(self, dense: torch.Tensor, indices: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        x = self.bottom(dense)
        embs = [emb(indices[i], offsets[i]) for i, emb in enumerate(self.embeddings)]
        feats = torch.stack([x, *embs], dim=1)
        inter = torch.bmm(feats, feats.transpose(1, 2))
        li, lj = torch.tril_indices(feats.size(1), feats.size(1), offset=-1)
        z = torch.cat([x, inter[:, li, lj]], dim=1)
        return torch.sigmoid(self.top(z))


def _randomize_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give BatchNorms non-trivial statistics so folding is really exercised."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            if m.affine:
                m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return model


def resnet(seed: int = 0):
    torch.manual_seed(seed)
    model = _randomize_bn(TinyResNet()).eval()
    return model, (torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(seed)),)


def bert(seed: int = 0):
    torch.manual_seed(seed)
    model = TinyBert().eval()
    return model, (torch.randint(0, 100, (2, 16), generator=torch.Generator().manual_seed(seed)),)


def dlrm(seed: int = 0, batch: int = 8):
    torch.manual_seed(seed)
    model = _randomize_bn(TinyDLRM()).eval()
    g = torch.Generator().manual_seed(seed)
    dense = torch.randn(batch, 13, generator=g)
    indices = torch.randint(0, 50, (4, batch * 3), generator=g)
    offsets = torch.arange(0, batch * 3, 3).repeat(4, 1)
    return model, (dense, indices, offsets)


class GCN(nn.Module):
    def __init__(self, fin: int = 16, hidden: int = 32, out: int = 4, cached: bool = False) -> None:
        super().__init__()
        from torch_geometric.nn import GCNConv

        self.conv1 = GCNConv(fin, hidden, cached=cached)
        self.conv2 = GCNConv(hidden, out, cached=cached)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return self.conv2(F.relu(self.conv1(x, edge_index)), edge_index)


class SAGE(nn.Module):
    def __init__(self, fin: int = 16, hidden: int = 32, out: int = 4) -> None:
        super().__init__()
        from torch_geometric.nn import SAGEConv

        self.conv1 = SAGEConv(fin, hidden)
        self.conv2 = SAGEConv(hidden, out, normalize=True)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return self.conv2(F.relu(self.conv1(x, edge_index)), edge_index)


def graph(nodes: int = 200, edges: int = 1000, features: int = 16, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, nodes, (2, edges), generator=g)
    edge_index[:, :5] = torch.arange(5).repeat(2, 1)  # some self loops, as real graphs have
    return torch.randn(nodes, features, generator=g), edge_index


def gcn(seed: int = 0):
    torch.manual_seed(seed)
    return GCN().eval(), graph(seed=seed)


def sage(seed: int = 0):
    torch.manual_seed(seed)
    return SAGE().eval(), graph(seed=seed)


FAMILIES = {"resnet": resnet, "bert": bert, "dlrm": dlrm, "gcn": gcn, "sage": sage}


def rel_err(out: torch.Tensor, ref: torch.Tensor) -> float:
    return ((out.float() - ref.float()).abs().max() / ref.float().abs().max()).item()
