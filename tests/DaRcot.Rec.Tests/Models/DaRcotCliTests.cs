using System.Text.Json;
using DaRcot.Cli;
using DaRcot.Rec.Backbones;
using DaRcot.Rec.Checkpoints;
using DaRcot.Rec.Models;
using DaRcot.Rec.Tests.Infrastructure;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Models;

/// <summary><c>darcot restore --arch darcot</c> on the official parity case, in process.</summary>
public class DaRcotCliTests(ITestOutputHelper log)
{
    [SkippableFact]
    public void RestoreWithArchDarcotWritesTheOfficialOutputAndResidualEmbedding()
    {
        var caseDir = Fixtures.Path("parity", "darcot_mrcnet_small");
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(caseDir, "case.json")));
        var tol = doc.RootElement.GetProperty("abs_tol").GetDouble();
        var dir = Directory.CreateTempSubdirectory("darcot-cli-");
        try
        {
            var config = Path.Combine(dir.FullName, "cfg.json");
            File.WriteAllText(config, doc.RootElement.GetProperty("config").GetRawText());
            var output = Path.Combine(dir.FullName, "out.safetensors");
            var code = CliCommands.Run("restore", Path.Combine(caseDir, "tensors.safetensors"), "-o", output,
                "--arch", "darcot", "--config", config, "--weights", Path.Combine(caseDir, "weights.pth"));
            Assert.Equal(0, code);
            var got = SafetensorsFile.Read(output);
            var want = SafetensorsFile.Read(Path.Combine(caseDir, "tensors.safetensors"));
            foreach (var key in new[] { "output", "residual_embedding" })
            {
                Assert.True(got.ContainsKey(key), key);
                Assert.Equal(want[key].shape, got[key].shape);
                var err = (got[key] - want[key]).abs().max().item<float>();
                log.WriteLine($"darcot restore CLI: max|Δ{key}| = {err:E3}");
                Assert.True(err <= tol, $"{key}: {err} > {tol}");
            }
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [SkippableFact]
    public void RestoreRefusesDecoderFalseWithAnError()
    {
        var caseDir = Fixtures.Path("parity", "darcot_mrcnet_small");
        var dir = Directory.CreateTempSubdirectory("darcot-cli-");
        try
        {
            var config = Path.Combine(dir.FullName, "cfg.json");
            File.WriteAllText(config, """{"dim": 48, "num_blocks": [1, 1, 1, 1], "num_refinement_blocks": 1, "decoder": false}""");
            var output = Path.Combine(dir.FullName, "out.safetensors");
            var code = CliCommands.Run("restore", Path.Combine(caseDir, "tensors.safetensors"), "-o", output,
                "--arch", "darcot", "--config", config, "--weights", Path.Combine(caseDir, "weights.pth"));
            Assert.NotEqual(0, code);
            Assert.False(File.Exists(output));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [SkippableFact]
    public void RestoreWithArchRestormerRecRunsASavedRecCheckpoint()
    {
        // A REC checkpoint made from the official tiny Restormer weights (zero-initialised injection) must restore
        // exactly what the official Restormer computes.
        var caseDir = Fixtures.Path("parity", "restormer_tiny_withbias");
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(caseDir, "case.json")));
        var configJson = doc.RootElement.GetProperty("config").GetRawText();
        var tol = doc.RootElement.GetProperty("abs_tol").GetDouble();
        var dir = Directory.CreateTempSubdirectory("darcot-cli-");
        try
        {
            using (var map = RecModels.RestormerRec(ModelFactory.ParseConfig<RestormerConfig>(configJson)))
            {
                StateDictLoader.LoadFile(map.Backbone, Path.Combine(caseDir, "weights.pth"), "params");
                SafetensorsFile.Write(Path.Combine(dir.FullName, "rec.safetensors"), map.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.contiguous()));
            }
            var config = Path.Combine(dir.FullName, "cfg.json");
            File.WriteAllText(config, configJson);
            var output = Path.Combine(dir.FullName, "out.safetensors");
            var code = CliCommands.Run("restore", Path.Combine(caseDir, "tensors.safetensors"), "-o", output,
                "--arch", "restormer-rec", "--config", config, "--weights", Path.Combine(dir.FullName, "rec.safetensors"));
            Assert.Equal(0, code);
            var got = SafetensorsFile.Read(output);
            var want = SafetensorsFile.Read(Path.Combine(caseDir, "tensors.safetensors"));
            var err = (got["output"] - want["output"]).abs().max().item<float>();
            log.WriteLine($"restormer-rec restore CLI vs official Restormer: max|Δoutput| = {err:E3}");
            Assert.True(err <= tol, $"{err} > {tol}");
            Assert.Equal(new long[] { 1, 384, 4, 4 }, got["residual_embedding"].shape); // REGM width 48 at 1/8
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
