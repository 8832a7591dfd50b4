"""The scheduler's first guess of a model's cost: multiply-adds per sample, from the built model."""

from __future__ import annotations

from cerebro.keras.cost import cost_hint


def _conv(filters: int):
    import keras

    inp = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(16, 3)(inp)
    x = keras.layers.Conv2D(filters, 3)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, keras.layers.Dense(10)(x))


def test_convolutions_count_once_per_output_position():
    import keras

    small, big = _conv(16), _conv(512)
    # a 3x3 conv's weights run at each of its 24x24 output positions
    want = (16 * 9 + 16) * 26 * 26 + (16 * 9 * 512 + 512) * 24 * 24 + (512 * 10 + 10)
    assert cost_hint(big) == want
    assert cost_hint(big) / cost_hint(small) > big.count_params() / small.count_params() / 2
    dense = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)])
    assert cost_hint(dense) == dense.count_params() == 36
