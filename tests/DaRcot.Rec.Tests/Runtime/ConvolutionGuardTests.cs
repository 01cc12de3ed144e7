using DaRcot.Rec.Runtime;
using DaRcot.Rec.Tests.Infrastructure;
using DaRcot.Rec.Tests.Parity;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Runtime;

/// <summary>
/// The convolution guard against kernels that are wrong the way libtorch's were measured to be: the wrong kernel must
/// be visible in a real model's outputs or gradients when unchecked, and the guarded model must still reproduce the
/// official outputs and gradient norms, with exactly the affected keys moved to the expected slower path.
/// </summary>
public class ConvolutionGuardTests(ITestOutputHelper log)
{
    private const string Case = "restormer_tiny_withbias_large";

    private sealed record RunResult(double OutputError, double GradientError);

    private static RunResult Run(LargeCase c, ConvolutionGuard guard)
    {
        using var use = ConvolutionGuard.Use(guard);
        using var scope = NewDisposeScope();
        using var model = c.LoadModel();
        var (errors, loss) = c.MeasureOutputs(c.Forward(model));
        loss.backward();
        var parameters = model.state_dict();
        var gradients = c.MeasureGradients(key => parameters.GetValueOrDefault(key));
        return new RunResult(errors.Values.Max(), gradients.Values.Max());
    }

    private void CheckDetectedAndRepaired(Func<Tensor, Tensor, Tensor?, ConvGeometry, Tensor> kernel, Func<ConvolutionKey, ConvolutionPath> expected)
    {
        using var c = LargeCase.Load(Case);
        var bare = Run(c, new ConvolutionGuard(kernel, verify: false));
        var guard = new ConvolutionGuard(kernel);
        var guarded = Run(c, guard);
        var paths = guard.Paths;
        log.WriteLine($"unchecked: output error {bare.OutputError:E2}, worst gradient error {bare.GradientError:E2}; " +
                      $"guarded: {guarded.OutputError:E2}, {guarded.GradientError:E2}; " +
                      string.Join(", ", paths.Values.GroupBy(p => p).Select(g => $"{g.Key} ×{g.Count()}")));
        // The injected defect really reaches the model (otherwise this test could not fail)...
        Assert.True(bare.OutputError > 100 * c.AbsTol || bare.GradientError > 10 * c.GradRelTol);
        // ...and under the guard the model matches the official code in both directions.
        Assert.True(guarded.OutputError <= c.AbsTol, $"output error {guarded.OutputError} > {c.AbsTol}");
        Assert.True(guarded.GradientError <= c.GradRelTol, $"gradient error {guarded.GradientError} > {c.GradRelTol}");
        Assert.NotEmpty(paths);
        foreach (var (key, path) in paths) Assert.True(expected(key) == path, $"{key}: {path}, expected {expected(key)}");
        Assert.Contains(paths.Values, p => p != ConvolutionPath.Native);
    }

    [SkippableFact]
    public void A_forward_defect_for_unaligned_input_channels_is_routed_to_channel_padding() =>
        CheckDetectedAndRepaired(FaultyKernels.ForwardWrongForUnalignedInputChannels,
            key => key.Geometry.Groups == 1 && key.InChannels % 16 != 0 ? ConvolutionPath.ChannelPadded : ConvolutionPath.Native);

    [SkippableFact]
    public void An_input_gradient_defect_of_output_convolutions_is_routed_to_channel_padding() =>
        CheckDetectedAndRepaired(FaultyKernels.InputGradientWrongForFewOutputs,
            key => key.OutChannels >= 16 ? ConvolutionPath.Native : key.Geometry.Groups == 1 ? ConvolutionPath.ChannelPadded : ConvolutionPath.Float64);

    [SkippableFact]
    public void A_channels_last_defect_is_routed_to_a_contiguous_copy() =>
        CheckDetectedAndRepaired(FaultyKernels.ForwardWrongOnChannelsLast,
            key => key.ChannelsLast ? ConvolutionPath.Contiguous : ConvolutionPath.Native);

    [SkippableFact]
    public void When_every_float32_kernel_is_wrong_everything_runs_in_float64() =>
        CheckDetectedAndRepaired(FaultyKernels.AlwaysWrongInFloat32, _ => ConvolutionPath.Float64);

    // A kernel that is right by construction (float64, which never reaches oneDNN, rounded to float32): the guard must
    // keep every key on it and must not change a single bit of the result.
    private static Tensor RightByConstruction(Tensor x, Tensor w, Tensor? b, ConvGeometry g)
    {
        using var scope = NewDisposeScope();
        var y = ConvolutionGuard.NativeConvolution(x.to(float64), w.to(float64), b?.to(float64), g).to(x.dtype);
        return y.MoveToOuterDisposeScope();
    }

    [SkippableFact]
    public void A_right_kernel_is_kept_everywhere_and_results_are_bit_identical()
    {
        using var c = LargeCase.Load(Case);
        using var scope = NewDisposeScope();
        var guard = new ConvolutionGuard(RightByConstruction);
        Tensor Output(ConvolutionGuard g)
        {
            using var use = ConvolutionGuard.Use(g);
            using var model = c.LoadModel();
            var y = c.Forward(model)["output"];
            y.pow(2).mean().backward(); // exercises the gradient probes too
            return y.detach();
        }
        var guarded = Output(guard);
        var plain = Output(new ConvolutionGuard(RightByConstruction, verify: false));
        Assert.Equal(0f, (guarded - plain).abs().max().item<float>());
        Assert.NotEmpty(guard.Paths);
        Assert.All(guard.Decisions, d => Assert.True(d.Path == ConvolutionPath.Native && d.ForwardVerified && d.BackwardVerified, d.ToString()));
    }

    [Fact]
    public void Inference_checks_only_the_forward_and_training_adds_the_gradient_check_once()
    {
        var guard = new ConvolutionGuard(RightByConstruction);
        using var use = ConvolutionGuard.Use(guard);
        using var scope = NewDisposeScope();
        var conv = VerifiedConv2d.Create(5, 7, 3, padding: 1);
        var x = rand(2, 5, 12, 10);
        using (no_grad()) conv.forward(x);
        var decision = Assert.Single(guard.Decisions);
        Assert.True(decision.ForwardVerified);
        Assert.False(decision.BackwardVerified);
        conv.forward(x).sum().backward();
        decision = Assert.Single(guard.Decisions);
        Assert.True(decision.ForwardVerified && decision.BackwardVerified);
        // A new shape is a new key: libtorch may pick another kernel for it.
        using (no_grad()) conv.forward(rand(1, 5, 12, 10));
        Assert.Equal(2, guard.Decisions.Count);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Channel_padding_is_the_same_convolution_in_both_directions(bool withBias)
    {
        // The padded path must equal the plain convolution exactly in value and gradients (here with the float64 kernel,
        // so that rounding cannot hide a mistake in the padding arithmetic).
        using var scope = NewDisposeScope();
        var guard = new ConvolutionGuard(RightByConstruction);
        var g = new ConvGeometry(2, 2, 1, 1, 1, 1, 1);
        var x = randn(2, 5, 9, 11, dtype: float64).requires_grad_();
        var w = randn(3, 5, 4, 4, dtype: float64).requires_grad_();
        var b = withBias ? randn(3, dtype: float64).requires_grad_() : null;
        var padded = guard.RunPath(ConvolutionPath.ChannelPadded, x, w, b, g);
        var plain = ConvolutionGuard.NativeConvolution(x, w, b, g);
        Assert.Equal(plain.shape, padded.shape);
        Assert.True((padded - plain).abs().max().item<double>() < 1e-12);
        var gy = randn(plain.shape, dtype: float64);
        var inputs = b is null ? new[] { x, w } : new[] { x, w, b };
        var gPadded = TorchSharp.torch.autograd.grad([padded], inputs, [gy]);
        var gPlain = TorchSharp.torch.autograd.grad([plain], inputs, [gy]);
        for (var i = 0; i < inputs.Length; i++) Assert.True((gPadded[i] - gPlain[i]).abs().max().item<double>() < 1e-12);
    }
}

/// <summary>Guard properties that involve process-wide state (the global random stream), run alone.</summary>
[Collection(ThreadCountCollection.Name)]
public class ConvolutionGuardGlobalStateTests
{
    [Fact]
    public void Verification_does_not_consume_the_global_random_stream()
    {
        using var scope = NewDisposeScope();
        var conv = VerifiedConv2d.Create(6, 4, 3, padding: 1);
        var x = rand(1, 6, 16, 16);
        manual_seed(1234);
        using (ConvolutionGuard.Use(new ConvolutionGuard(ConvolutionGuard.NativeConvolution)))
            conv.forward(x).sum().backward(); // first use: forward check and gradient probe
        var after = rand(8);
        manual_seed(1234);
        var expected = rand(8);
        Assert.Equal(0f, (after - expected).abs().max().item<float>());
    }
}
