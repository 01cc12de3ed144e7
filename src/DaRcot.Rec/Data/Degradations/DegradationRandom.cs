using DaRcot.Rec.Errors;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Data.Degradations;

/// <summary>Shared helpers: input checks and per-sample parameter draws from a torch generator.</summary>
internal static class DegradationRandom
{
    /// <summary>Throws unless <paramref name="x"/> is a floating [B,C,H,W] tensor.</summary>
    public static void CheckImages(Tensor x, string argument = "clean")
    {
        if (x is null) throw new TensorArgumentException(argument, "is null.");
        if (x.dim() != 4)
            throw new TensorArgumentException(argument, $"shape [{string.Join(",", x.shape)}] must be [B,C,H,W].");
        if (!x.is_floating_point())
            throw new TensorArgumentException(argument, $"dtype {x.dtype} must be floating point with values in [0,1].");
    }

    /// <summary>
    /// <paramref name="count"/> uniform draws from <paramref name="range"/>. Always consumes the generator (even for a
    /// fixed range) so that changing one range never shifts the random stream of the others.
    /// </summary>
    public static double[] Uniform(torch.Generator generator, int count, ParameterRange range)
    {
        using var u = torch.rand(new long[] { count }, dtype: ScalarType.Float64, generator: generator);
        var values = u.data<double>().ToArray();
        for (int i = 0; i < values.Length; i++) values[i] = range.Min + (range.Max - range.Min) * values[i];
        return values;
    }

    /// <summary>Standard normal noise of <paramref name="shape"/> drawn on the CPU, returned as float32 on the CPU.</summary>
    public static Tensor Normal(torch.Generator generator, long[] shape) =>
        torch.randn(shape, dtype: ScalarType.Float32, generator: generator);

    /// <summary>Uniform [0,1) noise of <paramref name="shape"/> drawn on the CPU (float32).</summary>
    public static Tensor Rand(torch.Generator generator, long[] shape) =>
        torch.rand(shape, dtype: ScalarType.Float32, generator: generator);

    /// <summary>A per-sample column [B,1,1,1] of <paramref name="values"/> with the dtype/device of <paramref name="like"/>.</summary>
    public static Tensor PerSample(double[] values, Tensor like) =>
        torch.tensor(values, dtype: like.dtype, device: like.device).reshape(values.Length, 1, 1, 1);
}
