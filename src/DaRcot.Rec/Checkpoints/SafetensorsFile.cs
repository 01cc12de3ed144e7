using System.Buffers.Binary;
using System.Text.Json;
using DaRcot.Rec.Errors;
using TorchSharp;

namespace DaRcot.Rec.Checkpoints;

/// <summary>
/// Reads and writes the safetensors format: an 8-byte little-endian header length, a JSON header mapping each
/// tensor name to its dtype, shape and byte range, then the raw little-endian data. Nothing in it can execute code.
/// </summary>
public static class SafetensorsFile
{
    // Headers are small (a few hundred bytes per tensor); a larger value means the file is not safetensors.
    private const long MaxHeaderBytes = 100L * 1024 * 1024;

    private static readonly Dictionary<string, torch.ScalarType> DTypes = new(StringComparer.Ordinal)
    {
        ["F64"] = torch.ScalarType.Float64,
        ["F32"] = torch.ScalarType.Float32,
        ["F16"] = torch.ScalarType.Float16,
        ["BF16"] = torch.ScalarType.BFloat16,
        ["I64"] = torch.ScalarType.Int64,
        ["I32"] = torch.ScalarType.Int32,
        ["I16"] = torch.ScalarType.Int16,
        ["I8"] = torch.ScalarType.Int8,
        ["U8"] = torch.ScalarType.Byte,
        ["BOOL"] = torch.ScalarType.Bool,
    };

    internal sealed record Entry(string Name, torch.ScalarType DType, long[] Shape, long Begin, long End);

    internal sealed record Header(IReadOnlyList<Entry> Entries, IReadOnlyDictionary<string, string> Metadata, long DataStart);

    /// <summary>Reads every tensor, in file order (by data offset), as new CPU tensors of the stored dtype.</summary>
    /// <exception cref="CheckpointFormatException">The file is not valid safetensors (names the reason).</exception>
    public static Dictionary<string, torch.Tensor> Read(string path)
    {
        var header = ReadHeader(path);
        var result = new Dictionary<string, torch.Tensor>(StringComparer.Ordinal);
        using var stream = OpenRead(path);
        try
        {
            foreach (var e in header.Entries)
            {
                // Read straight into the tensor's memory (no intermediate array).
                var t = torch.empty(e.Shape, e.DType);
                result[e.Name] = t;
                if (e.End == e.Begin) continue;
                stream.Position = header.DataStart + e.Begin;
                stream.ReadExactly(t.bytes);
            }
        }
        catch (Exception ex) when (ex is EndOfStreamException or IOException)
        {
            foreach (var t in result.Values) t.Dispose();
            throw new CheckpointFormatException(path, $"tensor data is truncated ({ex.Message})", ex);
        }
        return result;
    }

    /// <summary>The <c>__metadata__</c> string map of the file (empty when absent).</summary>
    public static IReadOnlyDictionary<string, string> ReadMetadata(string path) => ReadHeader(path).Metadata;

    /// <summary>Whether the first bytes look like a safetensors header (used for format detection).</summary>
    internal static bool LooksLike(ReadOnlySpan<byte> head, long fileLength)
    {
        if (head.Length < 9 || fileLength < 10) return false;
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(head);
        return n >= 2 && n <= (ulong)Math.Min(MaxHeaderBytes, fileLength - 8) && head[8] == (byte)'{';
    }

    internal static Header ReadHeader(string path)
    {
        using var stream = OpenRead(path);
        var lenBytes = new byte[8];
        if (stream.Length < 8 || stream.Read(lenBytes, 0, 8) != 8)
            throw new CheckpointFormatException(path, "the file is too short to be safetensors");
        long n = (long)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(lenBytes), long.MaxValue);
        if (n <= 0 || n > MaxHeaderBytes || n > stream.Length - 8)
            throw new CheckpointFormatException(path, $"the safetensors header length {n} does not fit the file ({stream.Length} bytes; truncated?)");
        var json = new byte[n];
        stream.ReadExactly(json);
        long dataStart = 8 + n, dataLength = stream.Length - dataStart;
        var entries = new List<Entry>();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            using var doc = JsonDocument.Parse(json);
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (prop.Name == "__metadata__")
                {
                    foreach (var m in prop.Value.EnumerateObject()) metadata[m.Name] = m.Value.GetString() ?? "";
                    continue;
                }
                var dtypeName = prop.Value.GetProperty("dtype").GetString() ?? "";
                if (!DTypes.TryGetValue(dtypeName, out var dtype))
                    throw new CheckpointFormatException(path, $"tensor '{prop.Name}' has unsupported dtype '{dtypeName}'");
                var shape = prop.Value.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()).ToArray();
                var offsets = prop.Value.GetProperty("data_offsets").EnumerateArray().Select(x => x.GetInt64()).ToArray();
                if (offsets.Length != 2 || shape.Any(d => d < 0))
                    throw new CheckpointFormatException(path, $"tensor '{prop.Name}' has a malformed shape or data_offsets");
                long expected = shape.Aggregate(1L, (a, b) => checked(a * b)) * RawTensors.ElementSize(dtype);
                if (offsets[0] < 0 || offsets[1] < offsets[0] || offsets[1] - offsets[0] != expected)
                    throw new CheckpointFormatException(path, $"tensor '{prop.Name}' byte range [{offsets[0]}, {offsets[1]}) does not match its shape [{string.Join(", ", shape)}] {dtypeName}");
                if (offsets[1] > dataLength)
                    throw new CheckpointFormatException(path, $"tensor '{prop.Name}' ends at byte {offsets[1]} but the data section has {dataLength} bytes (file truncated?)");
                entries.Add(new Entry(prop.Name, dtype, shape, offsets[0], offsets[1]));
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException or FormatException or OverflowException)
        {
            throw new CheckpointFormatException(path, $"the safetensors header is not valid ({e.Message})", e);
        }
        entries.Sort((a, b) => a.Begin.CompareTo(b.Begin));
        return new Header(entries, metadata, dataStart);
    }

    /// <summary>
    /// Writes <paramref name="tensors"/> (in the given order) and optional string <paramref name="metadata"/> atomically:
    /// an existing file is replaced only once the new one is complete.
    /// </summary>
    public static void Write(string path, IReadOnlyDictionary<string, torch.Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var headerStream = new MemoryStream();
        using (var w = new Utf8JsonWriter(headerStream))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata) w.WriteString(k, v);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, tensor) in tensors)
            {
                var code = DTypes.FirstOrDefault(kv => kv.Value == tensor.dtype).Key
                           ?? throw new TensorArgumentException(name, $"dtype {tensor.dtype} cannot be stored in safetensors");
                long length = tensor.numel() * RawTensors.ElementSize(tensor.dtype);
                w.WriteStartObject(name);
                w.WriteString("dtype", code);
                w.WriteStartArray("shape");
                foreach (var d in tensor.shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + length);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += length;
            }
            w.WriteEndObject();
        }
        // Pad the header with spaces so the data section starts 8-byte aligned (what the reference writer does).
        var header = headerStream.ToArray().ToList();
        while ((header.Count + 8) % 8 != 0) header.Add((byte)' ');
        AtomicFile.Write(path, s =>
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Count);
            s.Write(len);
            s.Write(header.ToArray());
            // One tensor's bytes in memory at a time.
            foreach (var tensor in tensors.Values) s.Write(RawTensors.ToBytes(tensor));
        });
    }

    private static FileStream OpenRead(string path)
    {
        Files.RegularFile.Require(path, reason => new CheckpointFormatException(path, "the path " + reason.TrimEnd('.')));
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException)
        {
            throw new CheckpointFormatException(path, e is UnauthorizedAccessException ? "permission denied" : "the file does not exist", e);
        }
    }
}
