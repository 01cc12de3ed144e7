using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace DaRcot.Rec.Errors;

/// <summary>
/// System.Text.Json error messages in a configuration's own words: the field path as written in the file, what
/// value it takes (an enum's valid names, "a whole number", ...), the line, and no .NET type names.
/// </summary>
public static partial class JsonErrorText
{
    /// <summary>Describes <paramref name="error"/>, e.g. <c>'trainer.mode' must be one of Paired, Unpaired (line 5)</c>.</summary>
    public static string Describe(JsonException error)
    {
        ArgumentNullException.ThrowIfNull(error);
        var field = Field(error.Path);
        var line = error.LineNumber is { } l ? $" (line {l + 1})" : "";
        var message = error.Message;
        if (Unmapped().Match(message) is { Success: true } unmapped)
        {
            var known = KnownNames(unmapped.Groups["type"].Value);
            var name = unmapped.Groups["name"].Value;
            // The path ends with the unknown name itself; the object it is in is the parent.
            var parent = field == name ? "" : field.EndsWith("." + name, StringComparison.Ordinal) ? field[..^(name.Length + 1)] : field;
            return $"unknown field '{name}'{(parent is "" ? "" : $" in '{parent}'")}{line}" +
                   (known.Count > 0 ? $"; the fields are {string.Join(", ", known)}." : ".");
        }
        if (Convert().Match(message) is { Success: true } convert)
            return $"'{(field is "" ? "(top level)" : field)}' must be {FriendlyType(convert.Groups["type"].Value)}{line}.";
        // Other messages (syntax errors): the first line, its "Path: $ | LineNumber: 0 | ..." tail as a line number.
        var text = Position().Replace(FirstLine(message), "");
        return TypeName().Replace(text, m => FriendlyType(m.Value)).TrimEnd() + line;
    }

    /// <summary>What a value of a .NET type is called in a message: "a whole number", "one of A, B", ...</summary>
    public static string FriendlyType(string typeName)
    {
        ArgumentNullException.ThrowIfNull(typeName);
        var t = NullableOf().Match(typeName) is { Success: true } n ? n.Groups[1].Value : typeName;
        return t switch
        {
            "System.Int32" or "System.Int64" or "System.Int16" or "System.UInt32" or "System.UInt64" => "a whole number",
            "System.Double" or "System.Single" or "System.Decimal" => "a number",
            "System.Boolean" => "true or false",
            "System.String" => "a string",
            _ when t.EndsWith("[]", StringComparison.Ordinal) => "a list",
            _ => FindType(t) switch
            {
                { IsEnum: true } e => "one of " + string.Join(", ", EnumNames(e)),
                { } other when other.IsClass => "an object",
                _ => "a valid value",
            },
        };
    }

    private static IEnumerable<string> EnumNames(Type e) =>
        e.GetFields(BindingFlags.Public | BindingFlags.Static)
            .Select(f => f.GetCustomAttribute<JsonStringEnumMemberNameAttribute>()?.Name ?? f.Name);

    private static IReadOnlyList<string> KnownNames(string typeName)
    {
        var type = FindType(typeName);
        if (type is null) return [];
        return type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.GetCustomAttribute<JsonIgnoreAttribute>() is null)
            .Select(p => p.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name ?? p.Name)
            .ToList();
    }

    private static Type? FindType(string name) =>
        AppDomain.CurrentDomain.GetAssemblies().Select(a => a.GetType(name)).FirstOrDefault(t => t is not null);

    // "$.trainer.mode" → "trainer.mode"; "$['a b']" kept readable.
    private static string Field(string? path) => string.IsNullOrEmpty(path) || path == "$" ? "" : path.TrimStart('$', '.');

    private static string FirstLine(string message)
    {
        var i = message.IndexOf('\n');
        return (i < 0 ? message : message[..i]).TrimEnd();
    }

    [GeneratedRegex(@"The JSON property '(?<name>[^']*)' could not be mapped to any \.NET member contained in type '(?<type>[^']*)'")]
    private static partial Regex Unmapped();

    [GeneratedRegex(@"The JSON value could not be converted to (?<type>[^ ]+?)\. Path:")]
    private static partial Regex Convert();

    [GeneratedRegex(@"\s*Path: \S* \| LineNumber: \d+ \| BytePositionInLine: \d+\.?")]
    private static partial Regex Position();

    [GeneratedRegex(@"^System\.Nullable`1\[(.+)\]$")]
    private static partial Regex NullableOf();

    [GeneratedRegex(@"System\.Nullable`1\[[\w.+]+\]|(?:System|DaRcot)(?:\.\w+)+(?:\+\w+)*")]
    private static partial Regex TypeName();
}
