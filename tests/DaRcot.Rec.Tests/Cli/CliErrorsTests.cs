using DaRcot.Cli;
using DaRcot.Rec.Tests.Infrastructure;

namespace DaRcot.Rec.Tests.Cli;

/// <summary>Parse errors and unknown commands: one line in the user's words, no help dump, no .NET type names.</summary>
[Collection(ConsoleCaptureCollection.Name)]
public sealed class CliErrorsTests
{
    private static string OneLine(string err) => Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));

    [Fact]
    public void An_unknown_command_is_named_and_the_commands_listed()
    {
        var (code, stdout, err) = CliRun.Capture("restor", "x.png");
        Assert.Equal(1, code);
        var line = OneLine(err);
        Assert.Contains("unknown command 'restor'", line);
        Assert.Contains("the commands are " + string.Join(", ", CliCommands.Discover().Select(c => c.Name)), line);
        Assert.DoesNotContain("Required command was not provided", err);
        Assert.Empty(stdout);
    }

    [Theory]
    [InlineData("--tile", "abc", "--tile: 'abc' is not a whole number")]
    [InlineData("--tile-overlap", "1.5", "--tile-overlap: '1.5' is not a whole number")]
    public void A_bad_option_value_is_one_line_without_type_names_or_help(string option, string value, string expected)
    {
        var (code, stdout, err) = CliRun.Capture("restore", "in.png", "-o", "out.png", option, value);
        Assert.Equal(1, code);
        var line = OneLine(err);
        Assert.StartsWith("darcot restore: ", line);
        Assert.Contains(expected, line);
        Assert.DoesNotContain("System.", line);
        Assert.DoesNotContain("Description:", stdout + err);
    }

    [Fact]
    public void A_missing_required_option_is_one_line()
    {
        var (code, stdout, err) = CliRun.Capture("metrics", "a.png");
        Assert.Equal(1, code);
        Assert.Contains("reference", OneLine(err));
        Assert.DoesNotContain("Usage:", stdout + err);
    }

    [Fact]
    public void Argument_exception_suffixes_are_removed()
    {
        var message = CliOutput.Describe(new ArgumentOutOfRangeException("options", 0, "BatchSize must be >= 1."));
        Assert.Equal("BatchSize must be >= 1.", message);
    }

    [Fact]
    public void The_first_interrupt_cancels_and_the_second_lets_the_process_end()
    {
        var notices = new List<string>();
        using var interrupt = new CliInterrupt(notices.Add);
        Assert.True(interrupt.OnSignal());     // handled: cancel, keep running to a clean stop
        Assert.True(interrupt.Token.IsCancellationRequested);
        Assert.Contains("again", Assert.Single(notices));
        Assert.False(interrupt.OnSignal());    // not handled: the default action ends the process at once
    }
}
