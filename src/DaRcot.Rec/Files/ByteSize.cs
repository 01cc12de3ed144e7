namespace DaRcot.Rec.Files;

/// <summary>Byte counts for messages.</summary>
public static class ByteSize
{
    /// <summary>"1.5 GB", "320 MB", "12 KB" (powers of 1024, one decimal above 1 GB).</summary>
    public static string Format(long bytes) => bytes switch
    {
        >= 1L << 30 => (bytes / (double)(1L << 30)).ToString("0.0", System.Globalization.CultureInfo.InvariantCulture) + " GB",
        >= 1L << 20 => (bytes >> 20).ToString(System.Globalization.CultureInfo.InvariantCulture) + " MB",
        >= 1L << 10 => (bytes >> 10).ToString(System.Globalization.CultureInfo.InvariantCulture) + " KB",
        _ => bytes.ToString(System.Globalization.CultureInfo.InvariantCulture) + " bytes",
    };

    /// <summary>Parses "4G", "512M", "2.5GB", "1000000" (bytes) as used by <c>--memory-budget</c>.</summary>
    /// <exception cref="FormatException">Not a positive size.</exception>
    public static long Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var t = text.Trim().ToUpperInvariant();
        if (t.EndsWith('B')) t = t[..^1];
        long unit = 1;
        if (t.Length > 0 && "KMGT".Contains(t[^1]))
        {
            unit = 1L << (10 * ("KMGT".IndexOf(t[^1]) + 1));
            t = t[..^1];
        }
        if (!double.TryParse(t, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var value) || !(value > 0) || value * unit > long.MaxValue)
            throw new FormatException($"'{text}' is not a memory size; write e.g. 4G, 512M or 2.5GB.");
        return (long)(value * unit);
    }
}
