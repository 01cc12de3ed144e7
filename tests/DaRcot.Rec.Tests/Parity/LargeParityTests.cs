using System.Diagnostics;
using DaRcot.Rec.Checkpoints;
using DaRcot.Rec.Conditioning;
using DaRcot.Rec.Inference;
using DaRcot.Rec.Models;
using DaRcot.Rec.Tests.Infrastructure;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Parity;

/// <summary>
/// The realistic-size fixtures (<c>shared/parity/*_large</c>): official outputs <b>and</b> the L2 norm of every
/// parameter's gradient, at each thread count the case lists, through the public API with default settings
/// (<see cref="ModelFactory.Create"/> + <see cref="StateDictLoader.LoadFile"/> + forward/backward). These are the
/// sizes, thread counts and directions at which libtorch's oneDNN kernels were seen to go wrong.
/// </summary>
[Collection(ThreadCountCollection.Name)]
public class LargeParityTests(ITestOutputHelper log)
{
    public static TheoryData<string, int> Cases()
    {
        var data = new TheoryData<string, int>();
        foreach (var name in new[] { "restormer_tiny_withbias_large", "restormer_tiny_biasfree_large", "nafnet_tiny_large", "mprnet_tiny_large", "darcot_mrcnet_small_large" })
            foreach (var threads in new[] { 1, 2, 4 })
                data.Add(name, threads);
        return data;
    }

    public static TheoryData<string, int> RecCases()
    {
        var data = new TheoryData<string, int>();
        foreach (var name in new[] { "restormer_tiny_withbias_large", "nafnet_tiny_large", "mprnet_tiny_large" })
            foreach (var threads in new[] { 1, 2, 4 })
                data.Add(name, threads);
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void Outputs_and_gradients_match_the_official_code(string name, int threads) => CheckOutputsAndGradients(name, threads, channelsLast: false);

    /// <summary>The same with the input in channels-last memory, as <see cref="Restorer"/> hands it to the network
    /// (<see cref="RestorerOptions.ChannelsLast"/>): every layer then computes in that layout, forward and backward.</summary>
    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void Outputs_and_gradients_match_the_official_code_from_channels_last_input(string name, int threads) =>
        CheckOutputsAndGradients(name, threads, channelsLast: true);

    private void CheckOutputsAndGradients(string name, int threads, bool channelsLast)
    {
        using var c = LargeCase.Load(name);
        Assert.Equal(new[] { 1, 2, 4 }, c.Threads); // the theory data above must cover every listed count
        using var _t = TorchThreads.Use(threads);
        using var scope = NewDisposeScope();
        using var model = c.LoadModel();

        var sw = Stopwatch.StartNew();
        using var input = channelsLast ? DaRcot.Rec.Imaging.MemoryLayout.ToChannelsLast(c.Input) : c.Input.alias();
        var (errors, loss) = c.MeasureOutputs(LargeCase.Forward(model, input));
        var forwardMs = sw.ElapsedMilliseconds;
        AssertOutputs(c, errors, threads);
        Assert.True(Math.Abs(loss.item<float>() - c.LossValue) <= 1e-5 * c.LossValue, $"loss {loss.item<float>()} vs official {c.LossValue}");
        sw.Restart();
        loss.backward();
        var backwardMs = sw.ElapsedMilliseconds;

        // state_dict lists a shared parameter under each official key (MPRNet's PReLU), named_parameters once.
        var parameters = model.state_dict();
        var worst = AssertGradients(c, c.MeasureGradients(key => parameters.GetValueOrDefault(key)), threads);
        foreach (var (key, p) in model.named_parameters())
            if (!c.GradL2.ContainsKey(key))
                Assert.True(p.grad is null || p.grad.abs().max().item<float>() == 0, $"{key} has a gradient, the official model gives it none");
        log.WriteLine($"{name} @ {threads} threads{(channelsLast ? ", channels-last input" : "")}: {c.GradL2.Count} gradient norms within {c.GradRelTol} (worst {worst.Value:E2} at {worst.Key}); forward {forwardMs} ms, backward {backwardMs} ms");
    }

    [SkippableTheory]
    [MemberData(nameof(RecCases))]
    public void Zero_init_REC_around_the_official_backbone_matches_it_in_outputs_and_gradients(string name, int threads)
    {
        using var c = LargeCase.Load(name);
        using var _t = TorchThreads.Use(threads);
        using var scope = NewDisposeScope();

        // A small REGM keeps the test quick; the zero-initialised injector makes any REGM irrelevant at start.
        const string rec = """{"injector": "ZeroInitProjection", "regm_width": 8, "regm_blocks": [1, 1, 1, 1]}""";
        var json = $"{{\"backbone\": {c.ConfigJson}, \"rec\": {rec}}}";
        var (model, _) = ModelFactory.Create(c.FactoryArch + "-rec", json);
        using var _m = model;
        var map = Assert.IsType<ResidualConditionedMap>(model);
        Assert.True(StateDictLoader.LoadFile(map.Backbone, c.WeightsPath, c.ContainerKey).IsExact);
        model.eval();

        var output = map.ForwardNamed(c.Input)[INamedOutputs.Final];
        var final = c.OutputNames[0];
        var err = (output - c.Tensors[final]).abs().max().item<float>();
        Assert.True(err <= c.AbsTol, $"{name} + REC @ {threads} threads: {final} differs by {err} > {c.AbsTol}");
        if (c.OutputNames.Length > 1)
        {
            // The official loss sums all of MPRNet's stage outputs; REC returns the final one, so only outputs compare.
            log.WriteLine($"{name} + REC @ {threads} threads: {final} max|Δ| = {err:E2} (outputs only: multi-output loss)");
            return;
        }
        var loss = output.pow(2).mean();
        Assert.True(Math.Abs(loss.item<float>() - c.LossValue) <= 1e-5 * c.LossValue, $"loss {loss.item<float>()} vs {c.LossValue}");
        loss.backward();
        var parameters = model.state_dict();
        var worst = AssertGradients(c, c.MeasureGradients(key => parameters.GetValueOrDefault("backbone." + key)), threads);
        log.WriteLine($"{name} + REC @ {threads} threads: output max|Δ| = {err:E2}; backbone gradients within {c.GradRelTol} (worst {worst.Value:E2} at {worst.Key})");
    }

    private void AssertOutputs(LargeCase c, IReadOnlyDictionary<string, double> errors, int threads)
    {
        foreach (var (name, err) in errors)
        {
            log.WriteLine($"  {name}: max|ours − official| = {err:E2} (abs_tol {c.AbsTol})");
            Assert.True(err <= c.AbsTol, $"{c.Name} @ {threads} threads: {name} differs by {err} > {c.AbsTol}");
        }
    }

    private static KeyValuePair<string, double> AssertGradients(LargeCase c, IReadOnlyDictionary<string, double> errors, int threads)
    {
        foreach (var (key, rel) in errors)
            Assert.True(rel <= c.GradRelTol, $"{c.Name} @ {threads} threads: gradient norm of '{key}' is off by {rel:E2} (relative; tolerance {c.GradRelTol})");
        return errors.MaxBy(e => e.Value);
    }
}
