using DaRcot.Rec.Tests.Infrastructure;
using static TorchSharp.torch;

namespace DaRcot.Rec.Tests.Cli;

/// <summary><c>--threads</c> is accepted by every command (a recursive option of the root) and sets libtorch's
/// intra-op threads for the run. In the console-capture collection, which runs alone.</summary>
[Collection(ConsoleCaptureCollection.Name)]
public sealed class ThreadsOptionTests
{
    [Theory]
    [InlineData("metrics", "a.png b.png")]
    [InlineData("restore", "a.png -o b.png")]
    [InlineData("identify", "a.png")]
    [InlineData("demo", "-o d.png")]
    public void Zero_threads_is_one_line_naming_the_command(string command, string rest)
    {
        var (code, _, err) = CliRun.Capture([command, .. rest.Split(' '), "--threads", "0"]);
        Assert.Equal(1, code);
        Assert.Equal($"darcot {command}: --threads must be at least 1, got 0.", err.Trim());
    }

    [Fact]
    public void Threads_are_applied_before_the_command_runs()
    {
        var before = get_num_threads();
        try
        {
            var wanted = before == 1 ? 2 : 1;
            var (_, _, err) = CliRun.Capture("metrics", "missing-a.png", "missing-b.png", "--threads", wanted.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Assert.DoesNotContain("--threads", err, StringComparison.Ordinal);
            Assert.Equal(wanted, get_num_threads());
        }
        finally
        {
            set_num_threads(before);
        }
    }
}
