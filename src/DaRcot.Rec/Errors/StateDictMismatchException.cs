namespace DaRcot.Rec.Errors;

/// <summary>A state_dict does not fit a model: missing keys, unexpected keys or shape differences.</summary>
public sealed class StateDictMismatchException : DaRcotException
{
    /// <summary>Keys the model has but the state_dict lacks.</summary>
    public IReadOnlyList<string> MissingKeys { get; }

    /// <summary>Keys the state_dict has but the model lacks.</summary>
    public IReadOnlyList<string> UnexpectedKeys { get; }

    /// <summary>Keys present on both sides whose shapes differ, as "key: model [..] vs checkpoint [..]".</summary>
    public IReadOnlyList<string> ShapeMismatches { get; }

    /// <summary>Creates the exception; the message lists the first few of each kind with their counts.</summary>
    public StateDictMismatchException(string source, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected, IReadOnlyList<string> shapes)
        : this(source, missing, unexpected, shapes, null)
    {
    }

    /// <summary>Creates the exception with a first sentence that says the likely cause (e.g. a missing configuration).</summary>
    public StateDictMismatchException(string source, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected, IReadOnlyList<string> shapes, string? cause)
        : base((cause is null ? "" : cause + " ") + Describe(source, missing, unexpected, shapes))
    {
        MissingKeys = missing;
        UnexpectedKeys = unexpected;
        ShapeMismatches = shapes;
    }

    private static string Describe(string source, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected, IReadOnlyList<string> shapes)
    {
        const int shown = 5;
        static string List(string title, IReadOnlyList<string> items) =>
            items.Count == 0 ? "" : $"\n  {title} ({items.Count}): {string.Join(", ", items.Take(shown))}{(items.Count > shown ? ", ..." : "")}";
        return $"State dict from '{source}' does not match the model." +
               List("missing keys", missing) + List("unexpected keys", unexpected) + List("shape mismatches", shapes);
    }
}
