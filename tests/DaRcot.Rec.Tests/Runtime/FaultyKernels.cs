using DaRcot.Rec.Runtime;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Runtime;

/// <summary>
/// Convolution kernels that are wrong the way libtorch's oneDNN kernels were measured to be wrong on this project's
/// machine (shared/notes/libtorch-defects.md), for machines — like the CI machine — whose libtorch happens to be right.
/// Each is libtorch's conv2d with a deliberate error in one case; float64 calls are never touched (oneDNN never sees them).
/// </summary>
internal static class FaultyKernels
{
    private static Tensor Native(Tensor x, Tensor w, Tensor? b, ConvGeometry g) => ConvolutionGuard.NativeConvolution(x, w, b, g);

    private static bool Float32(Tensor x) => x.dtype == ScalarType.Float32;

    /// <summary>Forward 30% too large whenever the input channels are not a multiple of 16 (ungrouped convolutions).</summary>
    public static Tensor ForwardWrongForUnalignedInputChannels(Tensor x, Tensor w, Tensor? b, ConvGeometry g)
    {
        var y = Native(x, w, b, g);
        return Float32(x) && g.Groups == 1 && x.shape[1] % 16 != 0 ? y.mul(1.3) : y;
    }

    /// <summary>Forward right, input-gradient 60% too large when there are fewer than 16 output channels (every model's
    /// output convolution).</summary>
    public static Tensor InputGradientWrongForFewOutputs(Tensor x, Tensor w, Tensor? b, ConvGeometry g)
    {
        if (!Float32(x) || w.shape[0] >= 16 || !x.requires_grad) return Native(x, w, b, g);
        // Same values as x, but its gradient comes back scaled: x.detach() + 1.6·(x − x.detach()).
        var detached = x.detach();
        using var delta = x.sub(detached);
        using var scaled = detached.add(delta.mul(1.6));
        return Native(scaled, w, b, g);
    }

    /// <summary>Forward 50% too large on channels-last inputs.</summary>
    public static Tensor ForwardWrongOnChannelsLast(Tensor x, Tensor w, Tensor? b, ConvGeometry g)
    {
        var y = Native(x, w, b, g);
        return Float32(x) && ConvolutionGuard.IsChannelsLast(x) ? y.mul(1.5) : y;
    }

    /// <summary>Every float32 result 50% too large: only the float64 path is right.</summary>
    public static Tensor AlwaysWrongInFloat32(Tensor x, Tensor w, Tensor? b, ConvGeometry g)
    {
        var y = Native(x, w, b, g);
        return Float32(x) ? y.mul(1.5) : y;
    }
}
