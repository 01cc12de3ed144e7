using DaRcot.Rec.Errors;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Metrics;

/// <summary>Shared argument checks for the metrics: same shape, rank 3 or 4, finite values, float64 copies.</summary>
internal static class MetricInputs
{
    /// <summary>
    /// Checks <paramref name="restored"/> and <paramref name="reference"/> and returns both as float64 <c>[N,C,H,W]</c>
    /// tensors on their device (registered in the caller's dispose scope).
    /// </summary>
    public static (Tensor Restored, Tensor Reference) Prepare(Tensor restored, Tensor reference, double dataRange)
    {
        if (restored is null) throw new TensorArgumentException(nameof(restored), "is null.");
        if (reference is null) throw new TensorArgumentException(nameof(reference), "is null.");
        if (!(dataRange > 0) || double.IsInfinity(dataRange))
            throw new ArgumentOutOfRangeException(nameof(dataRange), dataRange, "The data range must be a positive finite number.");
        CheckRank(restored, nameof(restored));
        CheckRank(reference, nameof(reference));
        if (!restored.shape.SequenceEqual(reference.shape))
            throw new TensorArgumentException(nameof(restored),
                $"shape {Describe(restored.shape)} differs from reference shape {Describe(reference.shape)}.");
        if (restored.device.type != reference.device.type || restored.device.index != reference.device.index)
            throw new TensorArgumentException(nameof(restored), $"is on {restored.device} but reference is on {reference.device}.");
        var x = AsBatch(restored).detach().to_type(ScalarType.Float64);
        var y = AsBatch(reference).detach().to_type(ScalarType.Float64);
        CheckFinite(x, nameof(restored), restored.shape);
        CheckFinite(y, nameof(reference), reference.shape);
        return (x, y);
    }

    private static void CheckRank(Tensor t, string name)
    {
        if (t.dim() is not (3 or 4))
            throw new TensorArgumentException(name, $"shape {Describe(t.shape)} must be [N,C,H,W] or [C,H,W].");
        if (t.numel() == 0) throw new TensorArgumentException(name, $"shape {Describe(t.shape)} is empty.");
        if (!t.is_floating_point() && t.dtype != ScalarType.Byte)
            throw new TensorArgumentException(name, $"dtype {t.dtype} is not supported; pass floating values in [0, dataRange].");
    }

    private static void CheckFinite(Tensor t, string name, long[] shape)
    {
        if (!torch.isfinite(t).all().item<bool>())
            throw new TensorArgumentException(name, $"shape {Describe(shape)} contains NaN or infinite values.");
    }

    private static Tensor AsBatch(Tensor t) => t.dim() == 3 ? t.unsqueeze(0) : t.alias();

    public static string Describe(long[] shape) => "[" + string.Join(",", shape) + "]";
}
