using System.Text.Json;
using DaRcot.Cli;
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
    public void Table_output_names_the_arch_and_the_throughput()
    {
        var config = Config("""{"dim": 8, "num_blocks": [1, 1, 1, 1], "num_refinement_blocks": 1}""");
        var (code, text, err) = Run("bench", "--arch", "restormer", "--config", config, "--size", "16", "--iterations", "2", "--warmup", "0");
        Assert.True(code == 0, err);
        Assert.Contains("darcot bench: restormer", text);
        Assert.Contains("images/s", text);
        Assert.Contains("1×3×16×16", text);
        Assert.Contains("2 (+0 warm-up)", text);
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
