using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Metrics;

/// <summary>
/// Peak signal-to-noise ratio, as scikit-image's <c>peak_signal_noise_ratio</c>: 10·log10(range² / MSE), where the MSE
/// runs over all C·H·W values of an image and is computed in float64. No border is cropped and no colour conversion is
/// done (use <see cref="ColorSpaces.RgbToY"/> first for Y-channel PSNR).
/// </summary>
/// <remarks>Identical images have MSE 0 and give <see cref="double.PositiveInfinity"/> (as numpy does).</remarks>
public static class Psnr
{
    private static readonly Scalar Ten = Scalars.Constant(10.0);

    /// <summary>The mean over the batch of the per-image PSNR, in dB.</summary>
    /// <param name="restored">The image under test, <c>[N,C,H,W]</c> or <c>[C,H,W]</c>.</param>
    /// <param name="reference">The ground truth, same shape and device.</param>
    /// <param name="dataRange">The value range of the images (1 for [0,1]).</param>
    /// <returns>The mean PSNR in dB; +∞ when any image pair is identical.</returns>
    /// <exception cref="Errors.TensorArgumentException">Shapes differ, the rank is not 3 or 4, or a value is NaN/∞.</exception>
    public static double Compute(Tensor restored, Tensor reference, double dataRange = 1.0)
    {
        using var scope = torch.NewDisposeScope();
        return ComputeBatch(restored, reference, dataRange).mean().item<double>();
    }

    /// <summary>The PSNR of each image pair, in dB: a float64 tensor of shape <c>[N]</c> on the inputs' device.</summary>
    /// <inheritdoc cref="Compute" path="/param"/>
    /// <exception cref="Errors.TensorArgumentException">Shapes differ, the rank is not 3 or 4, or a value is NaN/∞.</exception>
    public static Tensor ComputeBatch(Tensor restored, Tensor reference, double dataRange = 1.0)
    {
        using var scope = torch.NewDisposeScope();
        var (x, y) = MetricInputs.Prepare(restored, reference, dataRange);
        var mse = (x - y).Square().mean(new long[] { 1, 2, 3 });
        // range²/0 = +inf and log10(+inf) = +inf: identical images give +inf without a special case.
        var psnr = torch.log10(mse.DividedInto(dataRange * dataRange)).mul(Ten);
        return psnr.MoveToOuterDisposeScope();
    }
}
