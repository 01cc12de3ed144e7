using System.Text.Json;
using DaRcot.Rec.Checkpoints;
using DaRcot.Rec.Conditioning;
using DaRcot.Rec.Models;
using DaRcot.Rec.Tests.Infrastructure;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Models;

/// <summary>DA-RCOT against the official PyTorch outputs in ../shared/parity (darcot.md §1, §2, §7).</summary>
public class DaRcotParityTests(ITestOutputHelper log)
{
    private static (DaRcotNet model, double tol) Build()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Fixtures.Path("parity", "darcot_mrcnet_small", "case.json")));
        var config = DaRcotConfig.FromJson(doc.RootElement.GetProperty("config").GetRawText());
        return (new DaRcotNet(config), doc.RootElement.GetProperty("abs_tol").GetDouble());
    }

    private static double MaxAbs(Tensor a, Tensor b)
    {
        Assert.Equal(b.shape, a.shape);
        return (a - b).abs().max().item<float>();
    }

    private void CheckCase(DaRcotNet model, double tol, string label)
    {
        var t = SafetensorsFile.Read(Fixtures.Path("parity", "darcot_mrcnet_small", "tensors.safetensors"));
        try
        {
            using var _ = no_grad();
            using var rec = model.ForwardRec(t["input"]);
            var eOut = MaxAbs(rec.Output, t["output"]);
            var eEmb = MaxAbs(rec.DenseEmbedding!, t["residual_embedding"]);
            log.WriteLine($"{label}: max|Δoutput| = {eOut:E3}, max|Δresidual_embedding| = {eEmb:E3} (abs_tol {tol})");
            Assert.True(eOut <= tol, $"output max error {eOut} > {tol}");
            Assert.True(eEmb <= tol, $"residual_embedding max error {eEmb} > {tol}");
        }
        finally
        {
            foreach (var tensor in t.Values) tensor.Dispose();
        }
    }

    [SkippableFact]
    public void StateDictCheckpointReproducesTheOfficialOutputs()
    {
        var (model, tol) = Build();
        using var _m = model;
        var report = StateDictLoader.LoadFile(model, Fixtures.Path("parity", "darcot_mrcnet_small", "weights.pth"), "Tnet");
        Assert.True(report.IsExact);
        Assert.Equal(238, report.Loaded);
        CheckCase(model, tol, "weights.pth [Tnet]");

        // The training-step fixture runs the same weights on another batch (B=4).
        var losses = SafetensorsFile.Read(Fixtures.Path("parity", "darcot_losses", "tensors.safetensors"));
        using var _g = no_grad();
        var named = model.ForwardNamed(losses["degraded"]);
        var eOut = MaxAbs(named["output"], losses["restored"]);
        var eEmb = MaxAbs(named[DaRcotNet.ResidualEmbeddingKey], losses["residual_embedding"]);
        log.WriteLine($"darcot_losses batch: max|Δrestored| = {eOut:E3}, max|Δresidual_embedding| = {eEmb:E3}");
        Assert.True(eOut <= tol && eEmb <= tol, $"{eOut} / {eEmb} > {tol}");
    }

    [SkippableFact]
    public void WholeModulePickleReproducesTheOfficialOutputs()
    {
        var (model, tol) = Build();
        using var _m = model;
        var report = StateDictLoader.LoadFile(model, Fixtures.Path("parity", "darcot_losses", "official_checkpoint_format.pth"), "Tnet");
        Assert.True(report.IsExact);
        CheckCase(model, tol, "official_checkpoint_format.pth [Tnet] (whole pickled MRCNet)");
    }

    [SkippableTheory]
    [InlineData("darcot_mrcnet_small", "weights.pth")]
    [InlineData("darcot_losses", "official_checkpoint_format.pth")]
    public void StateDictKeysAndShapesEqualTheOfficialOnesInOfficialOrder(string folder, string file)
    {
        var (model, _) = Build();
        using var _m = model;
        var official = CheckpointReader.ReadStateDict(Fixtures.Path("parity", folder, file), "Tnet");
        var ours = model.state_dict();
        Assert.Equal(official.Keys, ours.Keys);
        Assert.All(official, kv => Assert.Equal(kv.Value.shape, ours[kv.Key].shape));
    }

    [SkippableFact]
    public void FirstPassAndResidualAreConsistentWithTheOfficialWeights()
    {
        var (model, _) = Build();
        using var _m = model;
        StateDictLoader.LoadFile(model, Fixtures.Path("parity", "darcot_mrcnet_small", "weights.pth"), "Tnet");
        var t = SafetensorsFile.Read(Fixtures.Path("parity", "darcot_mrcnet_small", "tensors.safetensors"));
        using var _g = no_grad();
        using RecOutput o = model.ForwardRec(t["input"], keepIntermediates: true);
        Assert.Equal(0.0, MaxAbs(o.Residual!, t["input"] - o.FirstPass!));
        // The conditioning changes the image: pass 2 differs from pass 1 with the trained-like weights.
        Assert.True(MaxAbs(o.Output, o.FirstPass!) > 1e-4);
    }
}
