using System.Text.Json;
using DaRcot.Cli;
using DaRcot.Rec.Conditioning;
using DaRcot.Rec.Models;
using DaRcot.Rec.Profiling;
using DaRcot.Rec.Tests.Infrastructure;

namespace DaRcot.Rec.Tests.Samples;

/// <summary><c>darcot bench</c> run in-process on tiny networks (a few milliseconds per forward pass).</summary>
[Collection(ConsoleCaptureCollection.Name)]
public sealed class BenchCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("darcot-bench-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args) => CliRun.Capture(args);

    private string Config(string json)
    {
        var path = Path.Combine(_dir, $"config-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        return path;
    }

    [Fact]
    public void Json_reports_positive_timings_for_the_requested_arch()
    {
        var config = Config("""{"width": 8, "enc_blk_nums": [1, 1], "dec_blk_nums": [1, 1]}""");
        var (code, json, err) = Run("bench", "--arch", "nafnet", "--config", config, "--size", "16", "--batch", "2",
            "--iterations", "2", "--warmup", "1", "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        Assert.Equal("nafnet", root.GetProperty("arch").GetString());
        Assert.Equal("cpu", root.GetProperty("device").GetString());
        Assert.Equal(16, root.GetProperty("size").GetInt32());
        Assert.Equal(2, root.GetProperty("batch").GetInt32());
        Assert.Equal(2, root.GetProperty("iterations").GetInt32());
        var times = root.GetProperty("times_ms").EnumerateArray().Select(t => t.GetDouble()).ToArray();
        Assert.Equal(2, times.Length);
        Assert.All(times, t => Assert.True(t > 0, $"time {t} ms"));
        // The summary statistics follow from the two raw times by hand: mean = (a+b)/2, nearest-rank
        // median of two values = the smaller, p95 = the larger, images/s = batch·1000/mean.
        double mean = root.GetProperty("mean_ms").GetDouble();
        Assert.Equal((times[0] + times[1]) / 2, mean, 9);
        Assert.Equal(times.Min(), root.GetProperty("median_ms").GetDouble(), 9);
        Assert.Equal(times.Max(), root.GetProperty("p95_ms").GetDouble(), 9);
        Assert.Equal(2 * 1000.0 / mean, root.GetProperty("images_per_second").GetDouble(), 6);
        // The exact count is checked against the official one in the fixture test below; here only that a model exists.
        Assert.True(root.GetProperty("parameters").GetInt64() > 1000);
    }

    [Fact]
    public void Json_reports_the_counted_cost_and_the_matmul_peak()
    {
        const string json = """{"width": 8, "enc_blk_nums": [1, 1], "dec_blk_nums": [1, 1]}""";
        var (code, text, err) = Run("bench", "--arch", "nafnet", "--config", Config(json), "--size", "16",
            "--iterations", "2", "--warmup", "0", "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(text);
        var root = doc.RootElement;
        // The same network built here: its parameters and the counter's FLOPs at the benchmarked shape.
        var (model, _) = ModelFactory.Create("nafnet", json);
        using var _m = model;
        var expected = FlopCounter.Count(model, 1, 3, 16, 16);
        Assert.Equal(FlopCounter.CountParameters(model), root.GetProperty("parameters").GetInt64());
        Assert.Equal(expected.Flops, root.GetProperty("flops").GetInt64());
        Assert.Equal(expected.GigaFlops, root.GetProperty("gflops").GetDouble(), 12);
        Assert.Equal(expected.ConvMultiplyAdds, root.GetProperty("conv_macs").GetInt64());
        Assert.Equal(0, root.GetProperty("matmul_macs").GetInt64());
        Assert.StartsWith("FLOPs = 2 × multiply-adds", root.GetProperty("flop_convention").GetString());
        // achieved = FLOPs / mean latency; achieved/peak follows from the two printed rates.
        double mean = root.GetProperty("mean_ms").GetDouble();
        double achieved = root.GetProperty("achieved_gflops_per_second").GetDouble();
        Assert.Equal(expected.GigaFlops / (mean / 1000), achieved, 9);
        double peak = root.GetProperty("peak_matmul_gflops_per_second").GetDouble();
        Assert.True(peak > 0.1, $"peak {peak} GFLOP/s");
        Assert.Equal(1024, root.GetProperty("peak_matmul_size").GetInt32());
        Assert.Equal(achieved / peak, root.GetProperty("achieved_over_peak").GetDouble(), 9);
        Assert.False(root.TryGetProperty("backbone", out _));
    }

    [Fact]
    public void Rec_arch_reports_the_backbone_alone_and_the_ratios()
    {
        const string json = """{"backbone": {"width": 8, "enc_blk_nums": [1, 1], "dec_blk_nums": [1, 1]}, "rec": {"regm_width": 4, "regm_blocks": [1, 1, 1, 1]}}""";
        var (code, text, err) = Run("bench", "--arch", "nafnet-rec", "--config", Config(json), "--size", "16",
            "--iterations", "2", "--warmup", "0", "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(text);
        var root = doc.RootElement;
        var (model, _) = ModelFactory.Create("nafnet-rec", json);
        using var _m = model;
        var backboneModel = ((ResidualConditionedMap)model).Backbone;
        var rec = FlopCounter.Count(model, 1, 3, 16, 16);
        var alone = FlopCounter.Count(backboneModel, 1, 3, 16, 16);
        Assert.Equal(rec.Flops, root.GetProperty("flops").GetInt64());
        var backbone = root.GetProperty("backbone");
        Assert.Equal(FlopCounter.CountParameters(backboneModel), backbone.GetProperty("parameters").GetInt64());
        Assert.Equal(alone.Flops, backbone.GetProperty("flops").GetInt64());
        Assert.Equal(2, backbone.GetProperty("times_ms").GetArrayLength());
        // REC runs the backbone's decoder twice plus the REGM: more work than the backbone, and fewer parameters
        // in the backbone than in the whole.
        Assert.True(backbone.GetProperty("parameters").GetInt64() < root.GetProperty("parameters").GetInt64());
        Assert.Equal((double)rec.Flops / alone.Flops, root.GetProperty("rec_over_backbone_gflops").GetDouble(), 9);
        Assert.True(root.GetProperty("rec_over_backbone_gflops").GetDouble() > 1);
        Assert.Equal(root.GetProperty("mean_ms").GetDouble() / backbone.GetProperty("mean_ms").GetDouble(),
            root.GetProperty("rec_over_backbone_time").GetDouble(), 9);
    }

    [Fact]
    public void Table_output_names_the_arch_and_the_throughput()
    {
        var config = Config("""{"dim": 8, "num_blocks": [1, 1, 1, 1], "num_refinement_blocks": 1}""");
        var (code, text, err) = Run("bench", "--arch", "restormer", "--config", config, "--size", "16", "--iterations", "2", "--warmup", "0");
        Assert.True(code == 0, err);
        Assert.Contains("darcot bench: restormer", text);
        Assert.Contains("images/s", text);
        Assert.Contains("1×3×16×16", text);
        Assert.Contains("2 (+0 warm-up)", text);
        Assert.Contains("GFLOPs per forward", text);
        Assert.Contains("fp32 matmul peak", text);
        Assert.Contains("achieved / peak", text);
        Assert.Contains("FLOPs = 2 × multiply-adds", text);
        Assert.DoesNotContain("REC / backbone", text);
    }

    [SkippableFact]
    public void Loads_weights_when_given_and_counts_the_official_parameters()
    {
        var weights = Fixtures.Path("parity", "nafnet_tiny", "weights.pth");
        using var caseJson = JsonDocument.Parse(File.ReadAllText(Fixtures.Path("parity", "nafnet_tiny", "case.json")));
        var config = Config(caseJson.RootElement.GetProperty("config").GetRawText());
        var (code, json, err) = Run("bench", "--arch", "nafnet", "--config", config, "--weights", weights,
            "--size", "16", "--iterations", "1", "--warmup", "0", "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(json);
        Assert.Equal(caseJson.RootElement.GetProperty("param_count").GetInt64(), doc.RootElement.GetProperty("parameters").GetInt64());
    }

    [Theory]
    [InlineData("--iterations", "0", "--iterations must be at least 1")]
    [InlineData("--size", "-3", "--size must be at least 1")]
    [InlineData("--device", "tpu", "unknown device")]
    public void Bad_options_give_one_line_and_exit_code_1(string option, string value, string expected)
    {
        var (code, text, err) = Run("bench", "--arch", "nafnet", option, value);
        Assert.Equal(1, code);
        Assert.Equal("", text);
        Assert.StartsWith("darcot bench: ", err);
        Assert.Contains(expected, err);
        Assert.Single(err.TrimEnd().Split('\n'));
    }

    [Fact]
    public void Unknown_arch_lists_the_known_ones()
    {
        var (code, _, err) = Run("bench", "--arch", "unet9000", "--size", "8", "--iterations", "1");
        Assert.Equal(1, code);
        Assert.Contains("unknown architecture 'unet9000'", err);
        Assert.Contains("restormer-rec", err);
    }

    [Fact]
    public void Missing_config_or_weights_file_is_a_clear_error()
    {
        var missing = Path.Combine(_dir, "nope.json");
        var (code, _, err) = Run("bench", "--arch", "nafnet", "--config", missing);
        Assert.Equal(1, code);
        Assert.Contains($"config file '{missing}' does not exist", err);
        (code, _, err) = Run("bench", "--arch", "nafnet", "--weights", missing);
        Assert.Equal(1, code);
        Assert.Contains($"weights file '{missing}' does not exist", err);
    }
    [Theory]
    [InlineData("20000")]
    [InlineData("60000")]
    public void Sizes_that_cannot_fit_are_refused_in_one_line_before_allocating(string size)
    {
        var config = Config("""{"width": 8, "enc_blk_nums": [1, 1], "dec_blk_nums": [1, 1]}""");
        var (code, stdout, err) = Run("bench", "--arch", "nafnet", "--config", config, "--size", size, "--iterations", "1", "--warmup", "0");
        Assert.Equal(1, code);
        var line = Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("darcot bench: a forward pass on 1×3×" + size, line);
        Assert.Contains("memory budget", line);
        Assert.Empty(stdout);
    }
}
