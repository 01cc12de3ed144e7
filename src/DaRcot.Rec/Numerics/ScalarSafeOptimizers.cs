using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DaRcot.Rec.Numerics;

// TorchSharp 0.107's optimizers turn their hyper-parameters into Scalar temporaries inside step(), for every
// parameter, so a collection on another thread can free one while libtorch reads it (see Scalars). These subclasses
// replace step() with the same arithmetic, in the same order and with the same Scalar types, holding each Scalar in
// a `using` variable; everything else (parameter groups, learning-rate changes, saved state) is the base class's, so
// results and checkpoints are unchanged.

/// <summary>TorchSharp's <see cref="Adam"/> with a step that keeps its Scalars alive.</summary>
internal sealed class ScalarSafeAdam : Adam
{
    /// <summary>Adam over <paramref name="parameters"/> with PyTorch's defaults and learning rate <paramref name="lr"/>.</summary>
#pragma warning disable RS0030 // The base constructor only records options; step(), the banned part, is replaced below.
    public ScalarSafeAdam(IEnumerable<Parameter> parameters, double lr) : base(parameters, lr)
#pragma warning restore RS0030
    {
    }

    /// <inheritdoc />
    public override Tensor step(Func<Tensor>? closure = null) => _step<ParamGroup>(group =>
    {
        var options = group.Options;
        double beta1 = options.beta1!.Value, beta2 = options.beta2!.Value, weightDecay = options.weight_decay!.Value;
        bool amsgrad = options.amsgrad!.Value, maximize = options.maximize!.Value;
        double lr = options.LearningRate!.Value;
        using var beta1S = beta1.ToScalar();
        using var beta2S = beta2.ToScalar();
        using var oneMinusBeta1 = (1.0 - beta1).ToScalar();
        using var oneMinusBeta2 = (1.0 - beta2).ToScalar();
        using var eps = options.eps!.Value.ToScalar();
        using var weightDecayS = weightDecay.ToScalar();
        foreach (var parameter in group.Parameters)
        {
            var state = (State)_state[parameter.Handle];
            var grad = parameter.grad;
            if (grad is null) continue;
            if (maximize) grad = -grad;
            state.step++;
            var bias1 = 1.0 - Math.Pow(beta1, state.step);
            var bias2 = 1.0 - Math.Pow(beta2, state.step);
            if (weightDecay != 0.0) grad = grad.add(parameter, weightDecayS);
            state.exp_avg.mul_(beta1S).add_(grad, oneMinusBeta1);
            state.exp_avg_sq.mul_(beta2S).addcmul_(grad, grad.conj(), oneMinusBeta2);
            using var sqrtBias2 = Math.Sqrt(bias2).ToScalar();
            Tensor denominator;
            if (amsgrad)
            {
                var previous = state.max_exp_avg_sq;
                state.max_exp_avg_sq = maximum(previous, state.exp_avg_sq).DetachFromDisposeScope();
                previous.Dispose();
                denominator = state.max_exp_avg_sq.sqrt().div(sqrtBias2).add_(eps, Scalars.One);
            }
            else
            {
                denominator = state.exp_avg_sq.sqrt().div(sqrtBias2).add_(eps, Scalars.One);
            }
            using var stepSize = (0.0 - lr / bias1).ToScalar();
            parameter.addcdiv_(state.exp_avg, denominator, stepSize);
        }
    }, closure);
}

/// <summary>TorchSharp's <see cref="RMSProp"/> with a step that keeps its Scalars alive.</summary>
internal sealed class ScalarSafeRmsProp : RMSProp
{
    private static readonly Scalar MinusOne = Scalars.Constant(-1);

    /// <summary>RMSprop over <paramref name="parameters"/> (no weight decay, momentum or centering options beyond
    /// PyTorch's defaults) with the given learning rate, smoothing constant and ε.</summary>
#pragma warning disable RS0030 // The base constructor only records options; step(), the banned part, is replaced below.
    public ScalarSafeRmsProp(IEnumerable<Parameter> parameters, double lr, double alpha, double eps) : base(parameters, lr, alpha, eps)
#pragma warning restore RS0030
    {
    }

    /// <inheritdoc />
    public override Tensor step(Func<Tensor>? closure = null) => _step<ParamGroup>(group =>
    {
        var options = group.Options;
        bool maximize = options.maximize!.Value, centered = options.centered!.Value;
        double momentum = options.momentum!.Value, alpha = options.alpha!.Value, weightDecay = options.weight_decay!.Value;
        using var alphaS = alpha.ToScalar();
        using var oneMinusAlpha = (1.0 - alpha).ToScalar();
        using var momentumS = momentum.ToScalar();
        using var weightDecayS = weightDecay.ToScalar();
        using var eps = options.eps!.Value.ToScalar();
        using var stepSize = (0.0 - options.LearningRate!.Value).ToScalar();
        foreach (var parameter in group.Parameters)
        {
            var state = (State)_state[parameter.Handle];
            var grad = parameter.grad;
            if (grad is null) continue;
            if (maximize) grad = -grad;
            state.step++;
            if (weightDecay != 0.0) grad = grad.add(parameter, weightDecayS);
            state.square_avg.mul_(alphaS).addcmul_(grad, grad, oneMinusAlpha);
            Tensor average;
            if (centered)
            {
                var gradAverage = state.grad_avg;
                gradAverage.mul_(alphaS).add_(grad, oneMinusAlpha);
                average = state.square_avg.addcmul(gradAverage, gradAverage, MinusOne).sqrt_().add_(eps, Scalars.One);
            }
            else
            {
                average = state.square_avg.sqrt().add_(eps, Scalars.One);
            }
            if (momentum > 0.0)
            {
                var buffer = state.momentum_buffer;
                buffer.mul_(momentumS).addcdiv_(grad, average, Scalars.One);
                parameter.add_(buffer, stepSize);
            }
            else
            {
                parameter.addcdiv_(grad, average, stepSize);
            }
        }
    }, closure);
}
