using DaRcot.Rec.Errors;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Inference;

/// <summary>NaN/∞ checks for weights, inputs and outputs of inference (see <see cref="NonFiniteTensorException"/>).</summary>
public static class FiniteCheck
{
    /// <summary>Throws for the first parameter or floating-point buffer of <paramref name="module"/> holding NaN/∞.</summary>
    /// <param name="module">The network.</param>
    /// <param name="source">Where the weights came from (named in the message), or null.</param>
    /// <exception cref="NonFiniteTensorException">Names the tensor.</exception>
    public static void Weights(nn.Module module, string? source = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        foreach (var (name, p) in module.named_parameters()) Tensor("weight", name, p, source);
        foreach (var (name, b) in module.named_buffers()) Tensor("weight", name, b, source);
    }

    /// <summary>Throws when a floating-point <paramref name="value"/> holds NaN/∞; other dtypes always pass.</summary>
    /// <exception cref="NonFiniteTensorException">With the counts of NaN and infinite entries.</exception>
    public static void Tensor(string role, string name, Tensor value, string? where = null)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (!value.is_floating_point() || value.numel() == 0) return;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        // A sum is NaN/∞ when an entry is, and allocates nothing the size of the tensor (a sum in another dtype
        // would first convert the whole tensor). Only a non-finite sum pays for the exact counts, which also tell a
        // mere overflow of the sum (huge but finite values) from real NaN/∞ entries.
        if (double.IsFinite(value.sum().to_type(ScalarType.Float64).item<double>())) return;
        long nan = isnan(value).sum().item<long>(), inf = isinf(value).sum().item<long>();
        if (nan + inf == 0) return;
        throw new NonFiniteTensorException(role, name, nan, inf, value.numel(), where);
    }
}
