namespace DaRcot.Rec.Profiling;

/// <summary>
/// The cost of one forward pass as counted by <see cref="FlopCounter"/>. Convention: one multiply-add (MAC) is two
/// floating-point operations, so <see cref="Flops"/> = 2 × <see cref="MultiplyAdds"/>. Counted: convolutions
/// (including grouped, depthwise, strided and transposed), linear layers and the attention matrix products.
/// Not counted: bias adds, element-wise operations and activations, normalisations, softmax, pooling, resampling
/// and padding — all linear in the tensor size, and small next to the convolutions of the library's networks.
/// </summary>
/// <param name="Parameters">Elements of all parameters of the model (trainable or not).</param>
/// <param name="InputShape">The input shape the pass was counted at.</param>
/// <param name="ConvMultiplyAdds">Multiply-adds of the convolutions.</param>
/// <param name="LinearMultiplyAdds">Multiply-adds of the linear layers.</param>
/// <param name="MatmulMultiplyAdds">Multiply-adds of the matrix products (attention).</param>
public sealed record FlopCount(long Parameters, IReadOnlyList<long> InputShape, long ConvMultiplyAdds, long LinearMultiplyAdds, long MatmulMultiplyAdds)
{
    /// <summary>One sentence stating what the numbers mean, for reports.</summary>
    public const string Convention =
        "FLOPs = 2 × multiply-adds of convolutions, linear layers and attention matmuls; bias adds, element-wise ops, normalisations and softmax are not counted";

    /// <summary>All counted multiply-adds.</summary>
    public long MultiplyAdds => ConvMultiplyAdds + LinearMultiplyAdds + MatmulMultiplyAdds;

    /// <summary>Floating-point operations: 2 × <see cref="MultiplyAdds"/>.</summary>
    public long Flops => 2 * MultiplyAdds;

    /// <summary><see cref="Flops"/> in units of 10⁹.</summary>
    public double GigaFlops => Flops / 1e9;
}
