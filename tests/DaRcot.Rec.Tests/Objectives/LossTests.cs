using DaRcot.Rec.Errors;
using DaRcot.Rec.Objectives;
using TorchSharp;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Objectives;

/// <summary>Loss terms against hand-computed values.</summary>
public sealed class LossTests
{
    [Fact]
    public void FrotCost_ConstantResidual_MatchesHandValues()
    {
        // residual = c everywhere on 2×2: FFT has only the DC bin = 4c, so L2-type sqrt(mean|F|²) = sqrt(16c²/4) = 2c
        // and L1-type mean|F| = 4c/4 = c; RMS = c.
        const float cst = 0.25f;
        using var x = full(new long[] { 2, 1, 2, 2 }, cst);
        using var y = zeros(2, 1, 2, 2);
        using var terms = new FrotCost().Compute(x, y, new long[] { 0, 5 });
        Assert.Equal(cst, terms.Rms.item<float>(), 6);
        Assert.Equal(2 * cst + cst, terms.Fourier.item<float>(), 6);
        Assert.Equal(cst + 3 * cst, terms.Total.item<float>(), 6);

        using var weighted = new FrotCost { Lambda = 0.5, UsesL2 = _ => false }.Compute(x, y, new long[] { 0, 5 });
        Assert.Equal(cst + 0.5f * 2 * cst, weighted.Total.item<float>(), 6);
    }

    [Fact]
    public void FrotCost_L2Term_IsParsevalScaledRms()
    {
        // For any residual, sqrt(mean|FFT|²) = sqrt(H·W)·RMS(residual) per sample (Parseval, unnormalised FFT).
        using var g = new Generator(3);
        using var x = rand(new long[] { 1, 3, 8, 8 }, generator: g);
        using var y = zeros(1, 3, 8, 8);
        using var terms = new FrotCost().Compute(x, y, new long[] { 1 });
        using var rms = x.pow(2).mean().sqrt();   // computed here, independently of FrotCost
        Assert.Equal(8.0 * rms.item<float>(), terms.Fourier.item<float>(), 3);
    }

    [Fact]
    public void FrotCost_BadShapes_Throw()
    {
        using var a = zeros(2, 3, 4, 4);
        using var b = zeros(2, 3, 4, 5);
        Assert.Throws<TensorArgumentException>(() => new FrotCost().Compute(a, b, new long[] { 0, 0 }));
        Assert.Throws<TensorArgumentException>(() => new FrotCost().Compute(a, a, new long[] { 0 }));
    }

    [Fact]
    public void PairedCost_IsSigmaTimesMeanAbsolute()
    {
        using var a = tensor(new float[] { 1, 2, 3, 4 }).reshape(1, 1, 2, 2);
        using var b = tensor(new float[] { 0, 2, 5, 4 }).reshape(1, 1, 2, 2);
        using var v = new PairedCost().Compute(a, b);
        Assert.Equal(10000f * (1 + 0 + 2 + 0) / 4, v.item<float>(), 2);
    }

    [Fact]
    public void Contrastive_Official_HandValues()
    {
        // z1 = z2 = [1, 0] after normalisation; element-wise products [1, 0].
        using var e = tensor(new float[] { 3, 0, 2, 0 }).reshape(2, 2);
        using var same = new ContrastiveLoss().Compute(e, new long[] { 4, 4 });
        Assert.Equal((Math.Exp(-1 / 0.07) + 1) / 2, same.item<float>(), 5);
        using var diff = new ContrastiveLoss().Compute(e, new long[] { 0, 1 });
        Assert.InRange(diff.item<float>() / ((Math.Exp(1 / 0.07) + 1) / 2), 0.99999, 1.00001);
    }

    [Fact]
    public void Contrastive_SingleSample_IsZero()
    {
        using var e = ones(1, 4, 2, 2);
        Assert.Equal(0f, new ContrastiveLoss().Compute(e, new long[] { 0 }).item<float>());
        Assert.Equal(0f, new ContrastiveLoss { Form = ContrastiveForm.InfoNce }.Compute(e, new long[] { 0 }).item<float>());
    }

    [Fact]
    public void Contrastive_InfoNce_HandValue()
    {
        // z1 = z2 = [1,0], z3 = [0,1], ids [0,0,1]: anchors 1 and 2 each have one positive (sim 1/τ) and one
        // negative (sim 0): −log(e^{1/τ}/(e^{1/τ}+1)) = log(1 + e^{−1/τ}); anchor 3 has no positive and is skipped.
        using var e = tensor(new float[] { 1, 0, 1, 0, 0, 1 }).reshape(3, 2);
        using var v = new ContrastiveLoss { Form = ContrastiveForm.InfoNce }.Compute(e, new long[] { 0, 0, 1 });
        Assert.Equal(Math.Log(1 + Math.Exp(-1 / 0.07)), v.item<float>(), 6);
    }

    private sealed class LinearCritic : nn.Module<Tensor, Tensor>
    {
        private readonly TorchSharp.Modules.Linear fc;

        public LinearCritic(float w) : base("lin")
        {
            fc = nn.Linear(12, 1, hasBias: false);
            using (no_grad()) fc.weight!.fill_(w);
            RegisterComponents();
        }

        public override Tensor forward(Tensor input) => fc.call(input.reshape(input.shape[0], -1)).reshape(-1);
    }

    [Fact]
    public void GradientPenalty_LinearCritic_HandValue()
    {
        // φ(z) = Σ 0.5·z: the gradient is 0.5 everywhere, its norm 0.5·√12 for every α, GP = 10·(0.5√12 − 1)².
        using var critic = new LinearCritic(0.5f);
        using var real = rand(2, 3, 2, 2);
        using var fake = rand(2, 3, 2, 2);
        using var gp = new GradientPenalty().Compute(critic, real, fake, tensor(new float[] { 0.3f, 0.9f }));
        Assert.Equal(10 * Math.Pow(0.5 * Math.Sqrt(12) - 1, 2), gp.item<float>(), 4);
        // create_graph: the penalty is differentiable with respect to the critic's weights.
        gp.backward();
        var grad = critic.parameters().First().grad!;
        // d/dw 10·(w√12 − 1)² per weight: 20·(w√12 − 1)·√12/12 … every weight gets 20·(0.5√12−1)·(0.5/ (0.5√12)).
        var expected = 20 * (0.5 * Math.Sqrt(12) - 1) * (0.5 / (0.5 * Math.Sqrt(12)));
        Assert.Equal(expected, grad[0, 0].item<float>(), 4);
    }
}
