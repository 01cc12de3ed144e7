using System.Globalization;
using System.Text.Json;
using DaRcot.Cli;
using DaRcot.Rec.Checkpoints;
using DaRcot.Rec.Tests.Infrastructure;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Checkpoints;

/// <summary><c>darcot info</c> run in-process on every parity checkpoint (joins the console-capture collection).</summary>
[Collection(ConsoleCaptureCollection.Name)]
public sealed class InfoCommandTests
{
    private static (int Code, string Out, string Err) Run(params string[] args) => CliRun.Capture(args);

    [SkippableTheory]
    [InlineData("restormer_tiny_withbias", "restormer")]
    [InlineData("restormer_tiny_biasfree", "restormer")]
    [InlineData("nafnet_tiny", "nafnet")]
    [InlineData("nafnet_tiny_unpadded", "nafnet")]
    [InlineData("mprnet_tiny", "mprnet")]
    [InlineData("darcot_mrcnet_small", "darcot")]
    public void Info_describes_every_parity_weights_file(string caseName, string arch)
    {
        var path = Fixtures.Path("parity", caseName, "weights.pth");
        using var caseJson = JsonDocument.Parse(File.ReadAllText(Fixtures.Path("parity", caseName, "case.json")));
        long parameters = caseJson.RootElement.GetProperty("param_count").GetInt64();
        int keys = caseJson.RootElement.GetProperty("state_dict_keys").GetInt32();
        var container = caseJson.RootElement.GetProperty("container_key").GetString()!;

        var (code, text, err) = Run("info", path);
        Assert.True(code == 0, err);
        Assert.Contains("PyTorch zip", text);
        Assert.Contains($"Architecture: {arch}", text);
        Assert.Contains(parameters.ToString("N0", CultureInfo.InvariantCulture), text);
        Assert.Contains($"Container '{container}': state dict [default]", text);
        Assert.Contains("--all lists every tensor", text);

        var (code2, json, _) = Run("info", path, "--json", "--all");
        Assert.Equal(0, code2);
        using var doc = JsonDocument.Parse(json);
        var c = Assert.Single(doc.RootElement.GetProperty("containers").EnumerateArray());
        Assert.Equal(arch, c.GetProperty("architecture").GetString());
        Assert.Equal(parameters, c.GetProperty("parameter_count").GetInt64());
        Assert.Equal(keys, c.GetProperty("tensors").GetArrayLength());
        Assert.False(c.GetProperty("tensors_truncated").GetBoolean());
    }

    [SkippableFact]
    public void Info_describes_the_whole_module_checkpoint_and_the_potential_weights()
    {
        var (code, text, err) = Run("info", Fixtures.Path("parity", "darcot_losses", "official_checkpoint_format.pth"));
        Assert.True(code == 0, err);
        Assert.Contains("epoch: int 3", text);
        Assert.Contains("Container 'Tnet': pickled module model_res.MRCNet [default]", text);
        Assert.Contains("Architecture: darcot", text);
        Assert.Contains("14,455,421", text);

        var (code2, json, err2) = Run("info", Fixtures.Path("parity", "darcot_losses", "potential_weights.pth"), "--json");
        Assert.True(code2 == 0, err2);
        using var doc = JsonDocument.Parse(json);
        var c = Assert.Single(doc.RootElement.GetProperty("containers").EnumerateArray());
        Assert.Equal("Fnet", c.GetProperty("key").GetString());
        Assert.Equal("potential", c.GetProperty("architecture").GetString());
        Assert.Equal(22, c.GetProperty("tensor_count").GetInt32());
        Assert.Equal(20, c.GetProperty("tensors").GetArrayLength());
        Assert.True(c.GetProperty("tensors_truncated").GetBoolean());
    }

    [SkippableFact]
    public void Info_reads_safetensors_files()
    {
        var (code, text, err) = Run("info", Fixtures.Path("parity", "nafnet_tiny", "tensors.safetensors"));
        Assert.True(code == 0, err);
        Assert.Contains("Format:    safetensors", text);
        Assert.Contains("input", text);
        Assert.Contains("float32", text);
    }

    [Fact]
    public void Info_on_a_converted_safetensors_checkpoint_infers_the_architecture()
    {
        var dir = Directory.CreateTempSubdirectory("darcot-info-").FullName;
        try
        {
            var path = Path.Combine(dir, "mpr.safetensors");
            var sd = new Dictionary<string, Tensor> { ["module.shallow_feat1.0.weight"] = zeros(8, 3, 3, 3) };
            SafetensorsFile.Write(path, sd);
            sd.Values.Single().Dispose();
            var (code, text, err) = Run("info", path);
            Assert.True(code == 0, err);
            Assert.Contains("Architecture: mprnet", text);
            Assert.Contains("216", text);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Info_on_bad_input_prints_one_line_and_fails()
    {
        var dir = Directory.CreateTempSubdirectory("darcot-info-").FullName;
        try
        {
            var path = Path.Combine(dir, "notes.pth");
            File.WriteAllText(path, "not a checkpoint");
            var (code, text, err) = Run("info", path);
            Assert.NotEqual(0, code);
            Assert.Equal("", text);
            var line = Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith("darcot info: Cannot read checkpoint", line);
            Assert.DoesNotContain(" at ", err);

            var (code2, _, err2) = Run("info", Path.Combine(dir, "missing.pth"));
            Assert.NotEqual(0, code2);
            Assert.Contains("does not exist", err2);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
