using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using DaRcot.Rec.Backbones;
using DaRcot.Rec.Checkpoints;
using DaRcot.Rec.Tests.Infrastructure;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Backbones;

/// <summary>Official MPRNet outputs (shared/parity/mprnet_tiny) reproduced from the official weights file.</summary>
public class MPRNetParityTests(ITestOutputHelper output)
{
    private sealed record Case(MPRNetConfig Config, string ContainerKey, double AbsTol, long ParamCount, int KeyCount, string[] TensorNames);

    private static Case ReadCase()
    {
        var json = JsonNode.Parse(File.ReadAllText(Fixtures.Path("parity", "mprnet_tiny", "case.json")))!;
        return new Case(
            json["config"].Deserialize<MPRNetConfig>()!,
            json["container_key"]!.GetValue<string>(),
            json["abs_tol"]!.GetValue<double>(),
            json["param_count"]!.GetValue<long>(),
            json["state_dict_keys"]!.GetValue<int>(),
            json["tensors"]!.AsArray().Select(n => n!.GetValue<string>()).ToArray());
    }

    private static MPRNet LoadTiny(Case c, string weights, string? containerKey)
    {
        var model = new MPRNet(c.Config);
        model.eval();
        var report = StateDictLoader.LoadFile(model, weights, containerKey);
        Assert.True(report.IsExact);
        Assert.Equal(c.KeyCount, report.Loaded);
        return model;
    }

    [SkippableFact]
    public void Tiny_model_matches_the_official_three_stage_outputs()
    {
        var c = ReadCase();
        Assert.Equal(new[] { "input", "output_stage3", "output_stage2", "output_stage1" }, c.TensorNames);
        using var model = LoadTiny(c, Fixtures.Path("parity", "mprnet_tiny", "weights.pth"), c.ContainerKey);
        Assert.Equal(c.ParamCount, model.parameters().Sum(p => p.numel()));

        var reference = SafetensorsFile.Read(Fixtures.Path("parity", "mprnet_tiny", "tensors.safetensors"));
        try
        {
            using var _ = NewDisposeScope();
            using var noGrad = no_grad();
            var x = reference["input"];
            output.WriteLine($"input shape [{string.Join(",", x.shape)}]");
            model.ForwardStages(x); // warm-up (first-call allocations)
            var sw = Stopwatch.StartNew();
            var stages = model.ForwardStages(x);
            sw.Stop();
            output.WriteLine($"tiny forward (3 stages, CPU): {sw.Elapsed.TotalMilliseconds:F1} ms");
            var names = new[] { "output_stage3", "output_stage2", "output_stage1" };
            for (var i = 0; i < 3; i++)
            {
                Assert.Equal(reference[names[i]].shape, stages[i].shape);
                var err = (stages[i] - reference[names[i]]).abs().max().item<float>();
                output.WriteLine($"{names[i]}: max |C# − official| = {err:E3} (tol {c.AbsTol:E1})");
                Assert.True(err <= c.AbsTol, $"{names[i]} differs by {err}");
            }
            // The references differ by more than the tolerance, so a swapped stage order could not pass.
            var stage1Scale = (reference["output_stage1"] - reference["output_stage3"]).abs().max().item<float>();
            Assert.True(stage1Scale > c.AbsTol, "the stage images are too similar for this test to separate them");

            var named = model.ForwardNamed(x);
            Assert.True((named["output"] - reference["output_stage3"]).abs().max().item<float>() <= c.AbsTol);
        }
        finally
        {
            foreach (var t in reference.Values) t.Dispose();
        }
    }

    [SkippableFact]
    public void Official_weights_give_the_case_config_and_load_with_a_module_prefix()
    {
        var c = ReadCase();
        var weights = Fixtures.Path("parity", "mprnet_tiny", "weights.pth");
        var sd = CheckpointReader.ReadStateDict(weights, c.ContainerKey);
        var tmp = Path.Combine(Path.GetTempPath(), $"mprnet-prefixed-{Guid.NewGuid():N}.safetensors");
        try
        {
            Assert.Equal(c.KeyCount, sd.Count);
            Assert.Equal(c.Config, MPRNetConfig.InferFromStateDict(sd));

            // A DataParallel checkpoint: every key starts with "module."; loading must strip it.
            var prefixed = sd.ToDictionary(kv => "module." + kv.Key, kv => kv.Value);
            Assert.Equal(c.Config, MPRNetConfig.InferFromStateDict(prefixed));
            CheckpointWriter.SaveStateDict(tmp, prefixed);
            using var plain = LoadTiny(c, weights, c.ContainerKey);
            using var fromPrefixed = LoadTiny(c, tmp, null);
            using var _ = NewDisposeScope();
            using var noGrad = no_grad();
            manual_seed(3);
            var x = rand(1, 3, 16, 24);
            Assert.True(plain.forward(x).eq(fromPrefixed.forward(x)).all().item<bool>());
        }
        finally
        {
            foreach (var t in sd.Values.Distinct(ReferenceEqualityComparer.Instance).Cast<Tensor>().ToList()) t.Dispose();
            File.Delete(tmp);
        }
    }
}
