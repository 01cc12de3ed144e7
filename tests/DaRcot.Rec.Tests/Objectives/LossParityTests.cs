using System.Text.Json;
using DaRcot.Rec.Checkpoints;
using DaRcot.Rec.Objectives;
using DaRcot.Rec.Potentials;
using DaRcot.Rec.Tests.Infrastructure;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Objectives;

/// <summary>Recomputes every loss term of one official training step (parity/darcot_losses) from its tensors.</summary>
public sealed class LossParityTests
{
    private readonly ITestOutputHelper output;

    public LossParityTests(ITestOutputHelper output) => this.output = output;

    internal sealed record LossCase(Dictionary<string, Tensor> Tensors, long[] Ids, Dictionary<string, double> Losses, double RelTol, double Sigma, double BigSigma, string Dir);

    internal static LossCase Load()
    {
        var dir = Fixtures.Path("parity", "darcot_losses");
        using var doc = JsonDocument.Parse(File.ReadAllText(System.IO.Path.Combine(dir, "case.json")));
        var root = doc.RootElement;
        var ids = root.GetProperty("de_id").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        var losses = root.GetProperty("losses").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetDouble());
        var tensors = SafetensorsFile.Read(System.IO.Path.Combine(dir, "tensors.safetensors"));
        return new LossCase(tensors, ids, losses, root.GetProperty("rel_tol").GetDouble(),
            root.GetProperty("sigma").GetDouble(), root.GetProperty("Sigma").GetDouble(), dir);
    }

    internal static OfficialCritic LoadCritic(LossCase c)
    {
        var critic = new OfficialCritic(32);
        StateDictLoader.LoadFile(critic, System.IO.Path.Combine(c.Dir, "potential_weights.pth"), "Fnet", strict: true);
        critic.train();
        return critic;
    }

    private void AssertRel(LossCase c, string name, Tensor actual)
    {
        var expected = c.Losses[name];
        var value = actual.to(ScalarType.Float64).item<double>();
        var rel = Math.Abs(value - expected) / Math.Max(Math.Abs(expected), 1e-12);
        output.WriteLine($"{name}: C# {value:R} official {expected:R} rel {rel:E2}");
        Assert.True(rel <= c.RelTol, $"{name}: {value} vs official {expected} (relative error {rel:E3} > {c.RelTol})");
    }

    [SkippableFact]
    public void EveryLossTerm_MatchesTheOfficialStep()
    {
        var c = Load();
        using var scope = NewDisposeScope();
        var x = c.Tensors["degraded"];
        var y = c.Tensors["target"];
        var restored = c.Tensors["restored"];
        var emb = c.Tensors["residual_embedding"];

        using var frot = new FrotCost().Compute(x, restored, c.Ids);
        AssertRel(c, "rmse", frot.Rms);
        AssertRel(c, "fourier_penalty", frot.Fourier);
        AssertRel(c, "contrastive", new ContrastiveLoss().Compute(emb, c.Ids));
        AssertRel(c, "l1_paired", PairedCost.MeanAbsolute(restored, y));

        using var critic = LoadCritic(c);
        var phiRestored = critic.call(restored);
        var phiTarget = critic.call(y);
        AssertRel(c, "potential_mean_restored", phiRestored.mean());
        AssertRel(c, "potential_loss", TransportObjective.PotentialLoss(phiTarget, phiRestored));

        var objective = new TransportObjective { CostWeight = c.Sigma, PairedWeight = c.BigSigma };
        using (var paired = objective.Compute(phiRestored, x, restored, y, emb, c.Ids, paired: true))
            AssertRel(c, "transport_loss_paired", paired.Total);
        using (var unpaired = objective.Compute(phiRestored, x, restored, null, emb, c.Ids, paired: false))
            AssertRel(c, "transport_loss_unpaired", unpaired.Total);

        AssertRel(c, "gradient_penalty", new GradientPenalty().Compute(critic, y, restored, c.Tensors["alpha"]));
    }

    [SkippableFact]
    public void DaRcotNet_OnTheDegradedBatch_ReproducesRestoredAndTheLosses()
    {
        var c = Load();
        var netDir = Fixtures.Path("parity", "darcot_mrcnet_small");
        using var doc = JsonDocument.Parse(File.ReadAllText(System.IO.Path.Combine(netDir, "case.json")));
        var config = doc.RootElement.GetProperty("config").GetRawText();
        var absTol = doc.RootElement.GetProperty("abs_tol").GetDouble();
        using var net = DaRcot.Rec.Models.DaRcotNet.Create(DaRcot.Rec.Models.ModelFactory.ParseConfig<DaRcot.Rec.Models.DaRcotConfig>(config));
        StateDictLoader.LoadFile(net, System.IO.Path.Combine(netDir, "weights.pth"), "Tnet", strict: true);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var rec = ((DaRcot.Rec.Conditioning.IRecModel)net).ForwardRec(c.Tensors["degraded"]);
        var outErr = (rec.Output - c.Tensors["restored"]).abs().max().item<float>();
        var embErr = (rec.DenseEmbedding! - c.Tensors["residual_embedding"]).abs().max().item<float>();
        output.WriteLine($"restored max abs err {outErr:E2}, residual_embedding max abs err {embErr:E2} (abs_tol {absTol})");
        Assert.True(outErr <= absTol, $"restored differs by {outErr}");
        Assert.True(embErr <= absTol, $"residual_embedding differs by {embErr}");

        using var critic = LoadCritic(c);
        var objective = new TransportObjective { CostWeight = c.Sigma, PairedWeight = c.BigSigma };
        using var paired = objective.Compute(critic.call(rec.Output), c.Tensors["degraded"], rec.Output, c.Tensors["target"], rec.DenseEmbedding, c.Ids, paired: true);
        // End to end through the network the tolerance is the network's, relative to the dominating L1 term.
        AssertRel(c with { RelTol = 1e-3 }, "transport_loss_paired", paired.Total);
    }
}
