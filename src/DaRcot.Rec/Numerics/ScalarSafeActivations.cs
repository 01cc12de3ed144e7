using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DaRcot.Rec.Numerics;

/// <summary>
/// <c>nn.LeakyReLU</c> with its slope held as a Scalar for the module's lifetime (TorchSharp's module converts the
/// slope into a Scalar temporary on every call; see <see cref="Scalars"/>). Same libtorch call, same result; no
/// parameters, so state_dict keys are unchanged.
/// </summary>
internal sealed class LeakyRelu : ParameterLessModule<Tensor, Tensor>
{
    private readonly Scalar slope;

    /// <summary>Creates the activation with the given negative slope.</summary>
    public LeakyRelu(double negativeSlope) : base("LeakyReLU") => slope = negativeSlope.ToScalar();

    /// <inheritdoc />
    public override Tensor forward(Tensor x) => x.leaky_relu(slope);

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing) slope.Dispose();
        base.Dispose(disposing);
    }
}

/// <summary>
/// <c>nn.PReLU</c> built without a Scalar temporary (TorchSharp's constructor fills the weight with an implicit
/// Scalar; see <see cref="Scalars"/>). Same single parameter <c>weight</c> (filled with <c>init</c>), same forward.
/// </summary>
internal sealed class PRelu : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;

    /// <summary>Creates the activation with <paramref name="numParameters"/> slopes, all <paramref name="init"/>.</summary>
    public PRelu(long numParameters, double init) : base("PReLU")
    {
        using var value = init.ToScalar();
        var data = empty(numParameters);
        data.fill_(value);
        weight = (Parameter)new Parameter(data).DetachFromDisposeScope();
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        // prelu wants one dtype: under bfloat16 mixed precision the slope follows the (bfloat16) input.
        if (x.dtype == weight.dtype) return nn.functional.prelu(x, weight);
        using var slope = weight.to(x.dtype);
        return nn.functional.prelu(x, slope);
    }
}
