using System.Diagnostics;
using DaRcot.Rec.Checkpoints;
using DaRcot.Rec.Models;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Backbones;

/// <summary>
/// Reference parity: the official PyTorch Restormer/NAFNet outputs (../shared/parity) are reproduced from the
/// official config and weights, loaded strictly through the public checkpoint loader.
/// </summary>
public class BackboneParityTests(ITestOutputHelper output)
{
    [SkippableTheory]
    [InlineData("restormer_tiny_withbias")]
    [InlineData("restormer_tiny_biasfree")]
    [InlineData("nafnet_tiny")]
    [InlineData("nafnet_tiny_unpadded")]
    public void Matches_official_output(string name)
    {
        var c = ParityCase.Load(name);
        // None of the backbone cases enables TLC (their config has no such option); the factory must not either.
        Assert.DoesNotContain("tlc", c.ConfigJson, StringComparison.OrdinalIgnoreCase);

        var sw = Stopwatch.StartNew();
        var (model, _) = ModelFactory.Create(c.Arch, c.ConfigJson);
        using var _m = model;
        var buildMs = sw.Elapsed.TotalMilliseconds;
        Assert.Equal(c.ParamCount, model.parameters().Sum(p => p.numel()));
        Assert.Equal(c.StateDictKeys, model.state_dict().Count);

        var report = StateDictLoader.LoadFile(model, c.WeightsPath, c.ContainerKey, strict: true);
        Assert.True(report.IsExact);
        Assert.Equal(c.StateDictKeys, report.Loaded);

        var tensors = SafetensorsFile.Read(c.TensorsPath);
        try
        {
            model.eval();
            using var noGrad = no_grad();
            sw.Restart();
            using var y = model.forward(tensors["input"]);
            var forwardMs = sw.Elapsed.TotalMilliseconds;
            var expected = tensors["output"];
            Assert.Equal(expected.shape, y.shape);
            var maxErr = (y - expected).abs().max().item<float>();
            output.WriteLine($"{name}: max |ours - official| = {maxErr:E3} (tol {c.AbsTol}); build {buildMs:F0} ms, forward {forwardMs:F0} ms, input [{string.Join(",", tensors["input"].shape)}]");
            Assert.True(maxErr <= c.AbsTol, $"{name}: max error {maxErr} > {c.AbsTol}");
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }
}
