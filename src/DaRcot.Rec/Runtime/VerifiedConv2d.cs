using DaRcot.Rec.Errors;
using DaRcot.Rec.Profiling;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DaRcot.Rec.Runtime;

/// <summary>
/// A drop-in <c>nn.Conv2d</c> (same <c>weight</c>/<c>bias</c> parameters and keys, same default initialisation and
/// random stream) whose forward runs through the library's convolution guard, so that a libtorch kernel that is wrong
/// on this machine for this shape is detected on first use and replaced by a verified path
/// (<see cref="ConvolutionPolicy"/>). Every model in the library builds its convolutions with <see cref="Create"/>.
/// </summary>
public sealed class VerifiedConv2d : Convolution
{
    private VerifiedConv2d(long inChannels, long outChannels, long kernel, long stride, long padding, long dilation, long groups, bool bias)
        : base("Conv2d", inChannels, outChannels, [kernel, kernel], [stride, stride], [padding, padding], null,
               [dilation, dilation], false, [0, 0], groups, bias, PaddingModes.Zeros)
    {
    }

    /// <summary>Creates the convolution with <c>nn.Conv2d</c>'s arguments (square kernel, zero padding).</summary>
    public static VerifiedConv2d Create(long inChannels, long outChannels, long kernelSize, long stride = 1, long padding = 0,
        long dilation = 1, long groups = 1, bool bias = true) =>
        new(inChannels, outChannels, kernelSize, stride, padding, dilation, groups, bias);

    /// <summary>The functional form (<c>F.conv2d</c>) through the same guard, for convolutions with weights that are not
    /// module parameters (e.g. the blur kernels of the degradation synthesis).</summary>
    public static Tensor Apply(Tensor input, Tensor weight, Tensor? bias, ConvGeometry geometry)
    {
        var y = ConvolutionGuard.Current.Conv2d(input, weight, bias, geometry);
        // weight is [C_out, C_in/groups, kh, kw]: each output element is a dot product of its last three dims. The
        // shape is read only while counting (it is a native call).
        if (OpTally.Active) OpTally.Convolution(y, weight.shape[1], weight.shape[2] * weight.shape[3]);
        return y;
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        var geometry = ConvGeometry.From(stride, padding!, dilation, groups);
        if (input.dim() == 3 && input.shape[0] == in_channels)
        {
            // Unbatched CHW, as nn.Conv2d accepts.
            using var batched = input.unsqueeze(0);
            using var y = Counted(ConvolutionGuard.Current.Conv2d(batched, weight, bias, geometry));
            return y.squeeze(0);
        }
        if (input.dim() != 4 || input.shape[1] != in_channels)
            throw new TensorArgumentException("input", $"a convolution with {in_channels} input channels expects [N,{in_channels},H,W], got [{string.Join(",", input.shape)}].");
        if (MixedPrecision.Current is { } mixed && input.dtype is ScalarType.Float32 or ScalarType.BFloat16)
            return Counted(MixedPrecision.KeepsFloat32(in_channels, out_channels)
                ? ImageFacing(input, geometry)
                : LowPrecision(mixed, input, geometry));
        return Counted(ConvolutionGuard.Current.Conv2d(input, weight, bias, geometry));
    }

    // An image-facing convolution under mixed precision: float32, reading bfloat16 features converted back.
    private Tensor ImageFacing(Tensor input, ConvGeometry geometry)
    {
        if (input.dtype == ScalarType.Float32) return ConvolutionGuard.Current.Conv2d(input, weight, bias, geometry);
        using var wide = input.to(ScalarType.Float32);
        return ConvolutionGuard.Current.Conv2d(wide, weight, bias, geometry);
    }

    // bfloat16 on channels-last memory through the same guard (its bfloat16 tolerance), output left in bfloat16.
    private Tensor LowPrecision(MixedPrecision mixed, Tensor input, ConvGeometry geometry)
    {
        var low = MixedPrecision.ToLowPrecision(input, out var owned);
        try
        {
            return ConvolutionGuard.Current.Conv2d(low, mixed.LowPrecision(weight), bias is null ? null : mixed.LowPrecision(bias), geometry);
        }
        finally
        {
            if (owned) low.Dispose();
        }
    }

    // Reports the multiply-adds to a running FlopCounter (a thread-static null check otherwise). Counted here rather
    // than by a forward hook because the library's modules call their convolutions with forward(), which skips hooks.
    private Tensor Counted(Tensor output)
    {
        OpTally.Convolution(output, in_channels / groups, kernel_size[0] * kernel_size[1]);
        return output;
    }
}
