using System.CommandLine;
using System.Text.RegularExpressions;
using DaRcot.Rec.Errors;

namespace DaRcot.Cli;

/// <summary>
/// Turns System.CommandLine parse errors into one line on standard error, in the user's words: no help dump, no
/// .NET type names (``System.Nullable`1[System.Int32]``), and a list of the commands for an unknown one.
/// </summary>
public static partial class CliParseErrors
{
    /// <summary>Prints the errors of <paramref name="parsed"/> as one <c>darcot [COMMAND]: ...</c> line; returns 1.</summary>
    public static int Report(RootCommand root, ParseResult parsed)
    {
        var command = parsed.CommandResult.Command;
        if (ReferenceEquals(command, root))
        {
            var commands = string.Join(", ", root.Subcommands.Select(c => c.Name));
            var unknown = parsed.UnmatchedTokens.FirstOrDefault() ?? parsed.Tokens.FirstOrDefault()?.Value;
            var what = unknown is null || unknown.StartsWith('-') ? $"'{unknown}' is not a command" : $"unknown command '{unknown}'";
            Console.Error.WriteLine($"darcot: {what}; the commands are {commands} (darcot --help).");
            return 1;
        }
        var missing = command.Arguments.Where(a => parsed.GetResult(a) is null or { Tokens.Count: 0 }).Select(a => $"<{a.Name}>").ToList();
        var messages = parsed.Errors
            .Select(e => e.Message.StartsWith("Required argument missing", StringComparison.Ordinal) && missing.Count > 0
                ? $"missing {string.Join(" and ", missing)}"
                : Describe(e.Message).TrimEnd('.'))
            .Distinct().ToList();
        Console.Error.WriteLine($"darcot {command.Name}: {string.Join("; ", messages)} (darcot {command.Name} --help).");
        return 1;
    }

    /// <summary>One parse error message without .NET type names.</summary>
    public static string Describe(string message)
    {
        var m = CannotParse().Match(message);
        if (m.Success)
            return $"{m.Groups["name"].Value}: '{m.Groups["value"].Value}' is not {FriendlyType(m.Groups["type"].Value)}.";
        return TypeName().Replace(message, t => FriendlyType(t.Value));
    }

    /// <summary>What a value of a .NET type is called in an error message, e.g. "a whole number".</summary>
    public static string FriendlyType(string typeName) => JsonErrorText.FriendlyType(typeName);

    [GeneratedRegex(@"^Cannot parse argument '(?<value>.*)' for (?:option|argument|command) '(?<name>[^']*)' as expected type '(?<type>[^']*)'\.?$", RegexOptions.Singleline)]
    private static partial Regex CannotParse();

    [GeneratedRegex(@"System\.Nullable`1\[[\w.]+\]|System\.\w+(?:\.\w+)*")]
    private static partial Regex TypeName();
}
