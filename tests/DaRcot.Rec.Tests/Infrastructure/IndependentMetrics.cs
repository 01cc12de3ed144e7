using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Infrastructure;

/// <summary>Metrics computed from their definition in plain double arithmetic, independent of DaRcot.Rec.Metrics, for
/// tests whose expected values must not come from the code under test.</summary>
public static class IndependentMetrics
{
    /// <summary>PSNR (data range 1) of <paramref name="a"/> against <paramref name="b"/> over all elements.</summary>
    public static double Psnr(Tensor a, Tensor b)
    {
        var x = a.to(float64).data<double>().ToArray();
        var y = b.to(float64).data<double>().ToArray();
        double sum = 0;
        for (var i = 0; i < x.Length; i++) sum += (x[i] - y[i]) * (x[i] - y[i]);
        return 10 * Math.Log10(1.0 / (sum / x.Length));
    }
}
