"""Dense synapses with dense, per-row event and column-union event paths."""

from functools import partial

import numpy as np

from .base import (COST_GATHER, COST_ROW_GATHER, EVENT_CROSSOVER_DENSE, EVENT_MIN_MACS, PROBE_STEPS, Kernel,
                   Signal, register_kernel, zeros_buffer)

def event_coordinates(events, mask, width):
    """Row and column of every non-zero of `events` (viewed as rows of `width`), row-major; `mask` is a bool buffer
    of the same size. (A flat search plus divmod is several times faster than np.nonzero on a 2-D array.)"""
    np.not_equal(events, 0, out=mask)
    return np.divmod(np.flatnonzero(mask), width)


@register_kernel("dense")
class DenseKernel(Kernel):
    """y = W x + b contracting per-sample axis `axis` of x with W[out, in]; the bias broadcasts against y.

    Rows: x is viewed as R = batch * (other axes) rows of K inputs, y as R rows of O outputs: Y = X W^T + b.

    Event-driven paths when x is a spike train X = S diag(scale):
    - per row: y_r = b + sum_{k: S_rk != 0} S_rk scale_k W[:, k]. The active columns of each row are packed into a
      (width, R) index table (width = the most events in any row, short rows padded with a zero row of W^T), and
      y += (W^T)[table[j]] for j < width: work ~ width * R * O gathered adds instead of K * R * O multiply-adds;
    - column union: Y = S[:, U] (W^T)[U] + b with U the columns active anywhere: work ~ R |U| O.
    With synaptic_path "auto" the layer goes event-driven for the rest of the batch when its element density over the
    first PROBE_STEPS steps is below EVENT_CROSSOVER_DENSE (and the layer is big enough, see base.py); on the event
    path the cheaper of per-row and union is taken each step (cost model in COST_*). The event paths sum in another
    order than BLAS, so outputs can differ from the dense path's by float32 rounding. The scale is folded into
    W^T once when it is constant along the non-contracted axes; otherwise event values are read from x.
    """

    synaptic = True

    def setup(self):
        weight = self.const("weight")
        if weight is None or weight.ndim != 2:
            self.fail("needs a 2-D weight")
        (in_shape,) = self.input_shapes
        self.axis = int(self.attr("axis", -1)) % len(in_shape)
        self.out_features, self.in_features = weight.shape
        if in_shape[self.axis] != self.in_features:
            self.fail(f"weight {weight.shape} does not fit input {list(in_shape)} on axis {self.axis}")
        self.weight_t = np.ascontiguousarray(weight.T)          # (K, O)
        self.bias = self.const("bias")
        self.last_axis = self.axis == len(in_shape) - 1
        self.rows_per_sample = int(np.prod(in_shape, dtype=np.int64)) // self.in_features

    def ann_macs(self):
        return self.rows_per_sample * int(np.count_nonzero(self.weight_t))

    def bias_adds(self):
        return 0 if self.bias is None else int(np.prod(self.shape, dtype=np.int64))

    def input_fanout(self, index, output_fanout):
        """Per input element: its non-zero weights (the synapses that exist)."""
        per_feature = np.count_nonzero(self.weight_t, axis=1).astype(np.float64)        # (K,)
        shape = [1] * len(self.input_shapes[0])
        shape[self.axis] = self.in_features
        return np.broadcast_to(per_feature.reshape(shape), self.input_shapes[0]).copy()

    def bind(self, inputs, batch, run):
        (source,) = inputs
        self.source = source
        self.run = run
        self.out = zeros_buffer(batch, self.shape)
        rows = batch * self.rows_per_sample
        if self.last_axis:
            self.x_rows = source.value.reshape(rows, self.in_features)
            self.y_rows = self.out.reshape(rows, self.out_features)
            self.events_rows = None if source.events is None else source.events.reshape(rows, self.in_features)
        else:
            # move the contracted axis last into scratch buffers (copies each step)
            moved = (batch,) + tuple(np.delete(self.input_shapes[0], self.axis)) + (self.in_features,)
            self._x_moved = np.zeros(moved, dtype=np.float32)
            self._e_moved = np.zeros(moved, dtype=np.float32) if source.events is not None else None
            self._y_moved = np.zeros(moved[:-1] + (self.out_features,), dtype=np.float32)
            self.x_rows = self._x_moved.reshape(rows, self.in_features)
            self.y_rows = self._y_moved.reshape(rows, self.out_features)
            self.events_rows = None if self._e_moved is None else self._e_moved.reshape(rows, self.in_features)
        self.analog_input = not source.spike_derived
        if source.events is not None:
            self._mask = np.zeros((rows, self.in_features), dtype=bool)
            self._gathered = np.zeros((rows, self.out_features), dtype=np.float32)
            self._prepare_event_weights(source)
        self.event_worthwhile = rows * self.in_features * self.out_features >= EVENT_MIN_MACS
        self._probe, self._decided = [], None
        self._always_dense = (source.events is None or run.synaptic_path == "dense"
                              or (run.synaptic_path == "auto" and not self.event_worthwhile))
        # without a bias, a synaptic map of spike trains is still one (a max-pool tree's taps feeding the next layer)
        self.output = Signal(self.out, static=source.static, spike_derived=source.spike_derived and self.bias is None)
        return self.output

    def _prepare_event_weights(self, source):
        """W^T with a zero row appended (the padding target), the spike scale folded in when the events are binary
        and the scale is constant along the other axes (then `events_are_values` is False)."""
        weight_t = self.weight_t
        self.events_are_values = True
        if source.binary:
            if source.event_scale is None:
                self.events_are_values = False
            else:
                scale = np.moveaxis(source.event_scale, self.axis, -1).reshape(-1, self.in_features)
                if np.all(scale == scale[:1]):
                    weight_t = self.weight_t * scale[0][:, None]
                    self.events_are_values = False
        self.event_weight_t = np.concatenate([weight_t, np.zeros((1, self.out_features), np.float32)])

    def step(self, t):
        source = self.source
        if not self.last_axis:
            np.copyto(self._x_moved, np.moveaxis(source.value, self.axis + 1, -1))
            if source.events is not None:
                np.copyto(self._e_moved, np.moveaxis(source.events, self.axis + 1, -1))
        path = self._choose_path()
        if path == "dense":
            np.matmul(self.x_rows, self.weight_t, out=self.y_rows)
        elif path == "union":
            self._union_step()
        else:
            self._row_step()
        if not self.last_axis:
            np.copyto(self.out, np.moveaxis(self._y_moved, -1, self.axis + 1))
        if self.bias is not None:
            self.out += self.bias

    def step_ops(self):
        """The dense product's numpy calls, when the contracted axis is last and the batch never takes an event
        path."""
        if not (self._always_dense and self.last_axis):
            return None
        ops = [partial(np.matmul, self.x_rows, self.weight_t, out=self.y_rows)]
        if self.bias is not None:
            ops.append(partial(np.add, self.out, self.bias, out=self.out))
        return ops

    def _choose_path(self):
        """"dense", "row" or "union": dense when forced by run.synaptic_path or (auto) decided once per batch from the
        element density over the first PROBE_STEPS steps; on the event path the cheaper of row and union."""
        mode = self.run.synaptic_path
        if self.source.events is None or mode == "dense" or (mode == "auto" and not self.event_worthwhile):
            return "dense"
        if mode == "auto" and self._decided == "dense":
            self.run.count_path(self.name, "dense")
            return "dense"
        rows, cols = event_coordinates(self.events_rows, self._mask, self.in_features)
        self._rows, self._cols = rows, cols
        if mode == "auto" and self._decided is None:
            self._probe.append(rows.size / self._mask.size)
            event = np.mean(self._probe) < EVENT_CROSSOVER_DENSE
            if len(self._probe) >= PROBE_STEPS:
                self._decided = "event" if event else "dense"
            if not event:
                self.run.count_path(self.name, "dense")
                return "dense"
        n_rows, o = self.x_rows.shape[0], self.out_features
        self._row_counts = np.bincount(rows, minlength=n_rows)
        width = int(self._row_counts.max(initial=0))
        union = int(np.count_nonzero(self._mask.any(axis=0)))
        costs = {"row": width * n_rows * o * COST_ROW_GATHER,
                 "union": n_rows * union * (o + COST_GATHER) + union * o * COST_GATHER}
        path = min(costs, key=costs.get)
        self.run.count_path(self.name, path)
        return path

    def _union_step(self):
        active = np.flatnonzero(self._mask.any(axis=0))
        if self.events_are_values:
            np.matmul(self.x_rows[:, active], self.weight_t[active], out=self.y_rows)
        else:
            np.matmul(self.events_rows[:, active], self.event_weight_t[active], out=self.y_rows)

    def _row_step(self):
        rows, cols, counts = self._rows, self._cols, self._row_counts
        n_rows, k = self.x_rows.shape
        self.y_rows.fill(0)
        if rows.size == 0:
            return
        width = int(counts.max())
        rank = np.arange(rows.size) - (np.cumsum(counts) - counts)[rows]     # position of each event in its row
        table = np.full((width, n_rows), k, dtype=np.intp)                   # k: the appended zero row
        table[rank, rows] = cols
        if self.events_are_values:
            values = np.zeros((width, n_rows, 1), dtype=np.float32)
            values[rank, rows, 0] = self.x_rows[rows, cols]
        gathered = self._gathered
        for j in range(width):
            np.take(self.event_weight_t, table[j], axis=0, out=gathered, mode="clip")
            if self.events_are_values:
                gathered *= values[j]
            self.y_rows += gathered
