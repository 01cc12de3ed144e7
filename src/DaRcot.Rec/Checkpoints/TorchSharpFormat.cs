using System.Text;
using DaRcot.Rec.Errors;
using TorchSharp;

namespace DaRcot.Rec.Checkpoints;

/// <summary>
/// TorchSharp's own state-dict format (what <c>Module.save</c> writes and <c>Module.load</c> reads): an unsigned
/// LEB128 entry count, then per entry a .NET BinaryWriter string (the key), the LEB128 dtype code, the LEB128 rank,
/// the LEB128 dimensions and the raw little-endian elements. It has no magic number, so detection parses the whole
/// structure and accepts the file only when every field is plausible and the last tensor ends exactly at EOF.
/// </summary>
internal static class TorchSharpFormat
{
    private const int MaxRank = 16;

    internal sealed record Entry(string Name, torch.ScalarType DType, long[] Shape, long DataOffset, long ByteLength);

    /// <summary>Parses the structure without reading tensor data; null when the file is not in this format.</summary>
    public static List<Entry>? TryParse(Stream stream)
    {
        try
        {
            stream.Position = 0;
            using var reader = new BinaryReader(stream, Encoding.UTF8, leaveOpen: true);
            long count = Decode(reader);
            if (count < 0 || count > 10_000_000) return null;
            var entries = new List<Entry>();
            for (long i = 0; i < count; i++)
            {
                var name = reader.ReadString();
                if (name.Length == 0 || name.Any(char.IsControl)) return null;
                long code = Decode(reader);
                if (!Enum.IsDefined(typeof(torch.ScalarType), (sbyte)code) || code > 64) return null;
                var dtype = (torch.ScalarType)(sbyte)code;
                int elem;
                try { elem = RawTensors.ElementSize(dtype); } catch (NotSupportedException) { return null; }
                long rank = Decode(reader);
                if (rank < 0 || rank > MaxRank) return null;
                var shape = new long[rank];
                long numel = 1;
                for (int d = 0; d < rank; d++)
                {
                    shape[d] = Decode(reader);
                    if (shape[d] < 0) return null;
                    numel = checked(numel * shape[d]);
                }
                long bytes = checked(numel * elem);
                if (bytes > stream.Length - stream.Position) return null;
                entries.Add(new Entry(name, dtype, shape, stream.Position, bytes));
                stream.Position += bytes;
            }
            return stream.Position == stream.Length ? entries : null;
        }
        catch (Exception e) when (e is EndOfStreamException or FormatException or OverflowException or IOException or DecoderFallbackException)
        {
            return null;
        }
    }

    public static Dictionary<string, torch.Tensor> Read(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        return Read(stream, path);
    }

    /// <summary>Reads every tensor of a seekable stream in this format; <paramref name="path"/> names it in errors.</summary>
    public static Dictionary<string, torch.Tensor> Read(Stream stream, string path)
    {
        var entries = TryParse(stream) ?? throw new CheckpointFormatException(path, "not a valid TorchSharp state-dict file");
        var result = new Dictionary<string, torch.Tensor>(StringComparer.Ordinal);
        foreach (var e in entries)
        {
            var bytes = new byte[e.ByteLength];
            stream.Position = e.DataOffset;
            stream.ReadExactly(bytes);
            result[e.Name] = RawTensors.FromBytes(bytes, e.DType, e.Shape);
        }
        return result;
    }

    public static void Write(Stream stream, IReadOnlyDictionary<string, torch.Tensor> tensors)
    {
        using var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        Encode(writer, tensors.Count);
        foreach (var (name, tensor) in tensors)
        {
            writer.Write(name);
            Encode(writer, (long)tensor.dtype);
            Encode(writer, tensor.shape.Length);
            foreach (var d in tensor.shape) Encode(writer, d);
            writer.Write(RawTensors.ToBytes(tensor));
        }
        writer.Flush();
    }

    private static long Decode(BinaryReader reader)
    {
        long result = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            byte b = reader.ReadByte();
            result |= (long)(b & 0x7f) << shift;
            if ((b & 0x80) == 0) return result;
        }
        throw new FormatException("LEB128 value too long");
    }

    private static void Encode(BinaryWriter writer, long value)
    {
        if (value < 0) throw new ArgumentOutOfRangeException(nameof(value));
        do
        {
            byte b = (byte)(value & 0x7f);
            value >>= 7;
            writer.Write(value == 0 ? b : (byte)(b | 0x80));
        } while (value != 0);
    }
}
