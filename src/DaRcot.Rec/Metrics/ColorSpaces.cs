using DaRcot.Rec.Errors;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Metrics;

/// <summary>Colour conversions used by the metrics.</summary>
public static class ColorSpaces
{
    private static readonly Scalar YFromR = Scalars.Constant(65.481), YFromG = Scalars.Constant(128.553), YFromB = Scalars.Constant(24.966);
    private static readonly Scalar YOffset = Scalars.Constant(16.0), EightBitMax = Scalars.Constant(255.0);

    /// <summary>
    /// ITU-R BT.601 luma of RGB values in [0,1]: Y = (65.481 R + 128.553 G + 24.966 B + 16) / 255, which lies in
    /// [16/255, 235/255] (MATLAB's <c>rgb2ycbcr</c> Y channel, rescaled to [0,1]; the deraining benchmarks' Y-PSNR).
    /// </summary>
    /// <param name="rgb">A floating tensor <c>[N,3,H,W]</c> or <c>[3,H,W]</c>.</param>
    /// <returns><c>[N,1,H,W]</c> (a <c>[3,H,W]</c> input gives <c>[1,1,H,W]</c>) with the input's dtype and device.</returns>
    /// <exception cref="TensorArgumentException">The tensor is not RGB or not floating point.</exception>
    public static Tensor RgbToY(Tensor rgb)
    {
        if (rgb is null) throw new TensorArgumentException(nameof(rgb), "is null.");
        if (rgb.dim() is not (3 or 4) || rgb.shape[^3] != 3)
            throw new TensorArgumentException(nameof(rgb), $"shape {MetricInputs.Describe(rgb.shape)} must be [N,3,H,W] or [3,H,W].");
        if (!rgb.is_floating_point())
            throw new TensorArgumentException(nameof(rgb), $"dtype {rgb.dtype} must be floating point with values in [0,1].");
        using var scope = torch.NewDisposeScope();
        var x = rgb.dim() == 3 ? rgb.unsqueeze(0) : rgb;
        var r = x.narrow(1, 0, 1);
        var g = x.narrow(1, 1, 1);
        var b = x.narrow(1, 2, 1);
        var y = r.mul(YFromR).Plus(g.mul(YFromG)).Plus(b.mul(YFromB)).Plus(YOffset).div(EightBitMax);
        return y.MoveToOuterDisposeScope();
    }
}
