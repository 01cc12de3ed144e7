using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Data.Degradations;

/// <summary>
/// A synthetic degradation: turns clean images into degraded ones. Implementations are stateless apart from their
/// parameters, so one instance may be shared by several threads as long as each thread passes its own generator.
/// </summary>
/// <remarks>
/// All randomness (noise, per-sample parameters drawn from ranges, streak positions, blur trajectories) comes from the
/// <see cref="torch.Generator"/> passed to <see cref="Apply"/>; random numbers are drawn on the CPU and moved to the
/// image's device, so the same seed gives the same output on every device.
/// </remarks>
public interface IDegradation
{
    /// <summary>The task name, e.g. <c>denoise_25</c> or <c>derain</c> (see <see cref="DegradationRegistry"/>).</summary>
    string Name { get; }

    /// <summary>The official task label (denoise_15/25/50 = 0/1/2, derain 3, dehaze 4, deblur 5, lowlight 6, other 7).</summary>
    int TaskId { get; }

    /// <summary>Degrades a batch.</summary>
    /// <param name="clean">Clean images <c>[B,C,H,W]</c>, floating point, values in [0,1].</param>
    /// <param name="generator">The source of all randomness (a CPU generator).</param>
    /// <returns>A new tensor of the same shape, dtype and device, values in [0,1].</returns>
    /// <exception cref="Errors.TensorArgumentException">The input is not a floating <c>[B,C,H,W]</c> tensor.</exception>
    Tensor Apply(Tensor clean, torch.Generator generator);
}

/// <summary>Convenience overloads for <see cref="IDegradation"/>.</summary>
public static class DegradationExtensions
{
    /// <summary>Degrades <paramref name="clean"/> with a fresh CPU generator seeded with <paramref name="seed"/>.</summary>
    public static Tensor Apply(this IDegradation degradation, Tensor clean, long seed)
    {
        ArgumentNullException.ThrowIfNull(degradation);
        using var generator = new torch.Generator(unchecked((ulong)seed), torch.CPU);
        return degradation.Apply(clean, generator);
    }
}

/// <summary>A closed interval [Min, Max] from which a per-sample parameter is drawn uniformly (Min = Max: fixed).</summary>
/// <param name="Min">Lower bound.</param>
/// <param name="Max">Upper bound (≥ Min).</param>
public readonly record struct ParameterRange(double Min, double Max)
{
    /// <summary>A fixed value.</summary>
    public static ParameterRange Fixed(double value) => new(value, value);

    /// <summary>Checks Min ≤ Max and both finite; <paramref name="name"/> names the parameter in the error.</summary>
    internal void Validate(string name, double lowest = double.NegativeInfinity, double highest = double.PositiveInfinity)
    {
        if (!double.IsFinite(Min) || !double.IsFinite(Max) || Min > Max)
            throw new ArgumentOutOfRangeException(name, $"{name} range [{Min}, {Max}] must be finite with Min <= Max.");
        if (Min < lowest || Max > highest)
            throw new ArgumentOutOfRangeException(name, $"{name} range [{Min}, {Max}] must lie within [{lowest}, {highest}].");
    }

    /// <inheritdoc/>
    public override string ToString() => Min == Max ? $"{Min}" : $"[{Min}, {Max}]";
}
