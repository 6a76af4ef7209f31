"""Models whose value for an input does not depend on the batch, the thread count or the CPU.

Identity claims (table vs live calls, pool vs in-process, incremental vs full evaluation) are proven on
these; real CNNs are compared with a tolerance (their kernels round differently per batch size and CPU).
"""

import torch


class ExactNet(torch.nn.Module):
    """A random ReLU network on inputs of ``n_inputs`` elements, built from elementwise float64
    multiplications, additions and maxima accumulated in a fixed order: no reductions, matrix products or
    transcendental functions, whose kernels may round differently for another batch size or vector unit.
    So a row's scores are bit-identical however it is batched, on any CPU."""

    def __init__(self, n_inputs: int = 36, hidden: int = 6, n_classes: int = 5, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("w1", torch.randn(hidden, n_inputs, generator=g, dtype=torch.float64))
        self.register_buffer("w2", torch.randn(n_classes, hidden, generator=g, dtype=torch.float64))

    @staticmethod
    def _accumulate(columns, weights):
        acc = columns[0] * weights[0]
        for j in range(1, len(columns)):
            acc = acc + columns[j] * weights[j]
        return acc

    def forward(self, x):
        x = x.reshape(len(x), -1).double()
        columns = [x[:, i] for i in range(x.shape[1])]
        hidden = [torch.clamp_min(self._accumulate(columns, w), 0.0) for w in self.w1]
        return torch.stack([self._accumulate(hidden, w) for w in self.w2], dim=1)
