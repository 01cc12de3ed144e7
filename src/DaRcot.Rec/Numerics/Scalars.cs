using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Numerics;

/// <summary>
/// Scalars that stay alive across the native calls that read them.
/// </summary>
/// <remarks>
/// <para>TorchSharp 0.107's <see cref="Scalar"/> wraps a native handle and has a finalizer, and its tensor methods
/// pass <c>scalar.Handle</c> to libtorch without <c>GC.KeepAlive</c>. A Scalar that nothing references once its
/// handle has been read can therefore be finalized by a garbage collection on another thread while libtorch still
/// reads it: every implicit conversion (<c>x * 0.5</c>, <c>x.clamp(0, 1)</c>) and every Scalar TorchSharp makes by
/// itself (<c>a + b</c> is <c>a.add(b, 1)</c>; <c>square()</c> is <c>pow(2)</c>). <c>BannedSymbols.txt</c> bans
/// those APIs in this library. Instead:</para>
/// <list type="bullet">
/// <item>constants: a <c>static readonly</c> field initialised with <see cref="Constant(double)"/> (never disposed;
/// it lives as long as the process), or one of the shared fields here;</item>
/// <item>values known only at the call (loss weights, noise levels, learning rates): the <see cref="ScalarMath"/>
/// helpers that take a number, or <c>using var s = value.ToScalar();</c> declared before the call (disposed after
/// it, so alive during it). Never pass <c>value.ToScalar()</c> inline.</item>
/// </list>
/// <para>Each replacement passes the same Scalar type (integer, float or double) as the expression it replaces, so
/// results are bit for bit those of the operators.</para>
/// </remarks>
internal static class Scalars
{
    /// <summary>Integer 0.</summary>
    public static readonly Scalar Zero = Constant(0);

    /// <summary>Integer 1: the alpha TorchSharp passes itself for <c>a + b</c> and <c>a + number</c>.</summary>
    public static readonly Scalar One = Constant(1);

    /// <summary>Integer 2: the exponent of TorchSharp's <c>square()</c> (<c>pow(2)</c>).</summary>
    public static readonly Scalar Two = Constant(2);

    /// <summary>0.0 and 1.0 (double): the bounds of <see cref="ScalarMath.Clamp01"/>.</summary>
    public static readonly Scalar ZeroReal = Constant(0.0), OneReal = Constant(1.0);

    /// <summary>A double Scalar for a static field: never disposed, it lives as long as the process.</summary>
    public static Scalar Constant(double value) => value.ToScalar();

    /// <summary>A float Scalar for a static field: never disposed, it lives as long as the process.</summary>
    public static Scalar Constant(float value) => value.ToScalar();

    /// <summary>An integer Scalar for a static field: never disposed, it lives as long as the process.</summary>
    public static Scalar Constant(int value) => value.ToScalar();

    /// <summary>A 64-bit integer Scalar for a static field: never disposed, it lives as long as the process.</summary>
    public static Scalar Constant(long value) => value.ToScalar();
}

/// <summary>
/// Tensor arithmetic whose Scalars outlive the native call (see <see cref="Scalars"/>): each helper computes exactly
/// what the operator it replaces computes (same libtorch call, same Scalar type).
/// </summary>
internal static class ScalarMath
{
    /// <summary><c>a + b</c> (TorchSharp's <c>add(b, 1)</c>, with a cached alpha).</summary>
    public static Tensor Plus(this Tensor a, Tensor b) => a.add(b, Scalars.One);

    /// <summary><c>a.add_(b)</c>, in place, with a cached alpha.</summary>
    public static Tensor PlusInPlace(this Tensor a, Tensor b) => a.add_(b, Scalars.One);

    /// <summary><c>a.add_(b, alpha)</c>: <c>a += alpha·b</c> in place (double alpha).</summary>
    public static Tensor AddScaledInPlace(this Tensor a, Tensor b, double alpha)
    {
        using var s = alpha.ToScalar();
        return a.add_(b, s);
    }

    /// <summary><c>a + value</c> for a Scalar the caller keeps alive.</summary>
    public static Tensor Plus(this Tensor a, Scalar value) => a.add(value, Scalars.One);

    /// <summary><c>a.add_(value)</c>, in place, for a Scalar the caller keeps alive.</summary>
    public static Tensor PlusInPlace(this Tensor a, Scalar value) => a.add_(value, Scalars.One);

    /// <summary><c>a + value</c> (double).</summary>
    public static Tensor Plus(this Tensor a, double value)
    {
        using var s = value.ToScalar();
        return a.add(s, Scalars.One);
    }

    /// <summary><c>a - value</c> for a Scalar the caller keeps alive.</summary>
    public static Tensor Minus(this Tensor a, Scalar value) => a.sub(value);

    /// <summary><c>a - value</c> (double).</summary>
    public static Tensor Minus(this Tensor a, double value)
    {
        using var s = value.ToScalar();
        return a.sub(s);
    }

    /// <summary><c>value - a</c> for a Scalar the caller keeps alive, computed as TorchSharp's operator does:
    /// <c>(-a) + value</c>.</summary>
    public static Tensor SubtractedFrom(this Tensor a, Scalar value) => a.negative().add(value, Scalars.One);

    /// <summary><c>value - a</c> (double), computed as TorchSharp's operator does: <c>(-a) + value</c>.</summary>
    public static Tensor SubtractedFrom(this Tensor a, double value)
    {
        using var s = value.ToScalar();
        return a.negative().add(s, Scalars.One);
    }

    /// <summary><c>a * factor</c> (or <c>factor * a</c>; double).</summary>
    public static Tensor Times(this Tensor a, double factor)
    {
        using var s = factor.ToScalar();
        return a.mul(s);
    }

    /// <summary><c>a / divisor</c> (double).</summary>
    public static Tensor DividedBy(this Tensor a, double divisor)
    {
        using var s = divisor.ToScalar();
        return a.div(s);
    }

    /// <summary><c>numerator / a</c> (double), computed as TorchSharp's operator does: <c>a.reciprocal() * numerator</c>.</summary>
    public static Tensor DividedInto(this Tensor a, double numerator)
    {
        using var s = numerator.ToScalar();
        return a.reciprocal().mul(s);
    }

    /// <summary><c>a.clamp(min, max)</c> (double bounds).</summary>
    public static Tensor Clamp(this Tensor a, double min, double max)
    {
        using var lo = min.ToScalar();
        using var hi = max.ToScalar();
        return a.clamp(lo, hi);
    }

    /// <summary><c>a.clamp(0.0, 1.0)</c>.</summary>
    public static Tensor Clamp01(this Tensor a) => a.clamp(Scalars.ZeroReal, Scalars.OneReal);

    /// <summary><c>a.square()</c> (TorchSharp's <c>pow(2)</c>, with a cached exponent).</summary>
    public static Tensor Square(this Tensor a) => a.pow(Scalars.Two);
}
