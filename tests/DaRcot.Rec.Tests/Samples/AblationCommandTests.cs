using DaRcot.Rec.Tests.Infrastructure;

namespace DaRcot.Rec.Tests.Samples;

/// <summary><c>darcot ablation</c> refuses bad settings in one line before training anything.</summary>
[Collection(ConsoleCaptureCollection.Name)]
public sealed class AblationCommandTests
{
    [Theory]
    [InlineData("--patch 16", "darcot ablation: --patch must be at least 32 (the critic's minimum), got 16.")]
    [InlineData("--arch darcot", "darcot ablation: --arch must be restormer, nafnet or mprnet, got 'darcot'.")]
    [InlineData("--holdout missing.png", "darcot ablation: held-out photo(s) missing.png are not in '{dir}'.")]
    public void Bad_settings_are_one_line(string options, string expected)
    {
        var dir = Directory.CreateTempSubdirectory("darcot-ablation-cli-").FullName;
        try
        {
            var args = new List<string> { "ablation", dir };
            if (!options.StartsWith("--holdout", StringComparison.Ordinal)) args.AddRange(["--holdout", "x.png"]);
            args.AddRange(options.Split(' '));
            var (code, _, err) = CliRun.Capture([.. args]);
            Assert.Equal(1, code);
            Assert.Equal(expected.Replace("{dir}", dir, StringComparison.Ordinal), err.Trim());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
