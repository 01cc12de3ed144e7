using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Text;
using DaRcot.Rec.Errors;

namespace DaRcot.Rec.Checkpoints.Pickle;

/// <summary>
/// A pickle interpreter that never executes anything. Python's unpickler imports and calls whatever a GLOBAL names;
/// this one resolves a GLOBAL only against <see cref="PickleAllowList"/> (refusing everything else before any later
/// opcode runs) and gives each allowed global a fixed, side-effect-free meaning (build a dict, describe a tensor,
/// record a module object). Supports protocols 0–5 as far as torch.save output needs (no out-of-band buffers).
/// </summary>
internal sealed class PickleMachine
{
    private readonly byte[] _data;
    private int _pos;
    private readonly string _path;
    private readonly Func<object?, object?> _persistentLoad;
    private readonly List<object?> _stack = new();
    private readonly Stack<int> _marks = new();
    private readonly Dictionary<long, object?> _memo = new();

    /// <param name="data">The pickle bytes.</param>
    /// <param name="start">Offset of the first opcode.</param>
    /// <param name="path">The checkpoint file, for error messages.</param>
    /// <param name="persistentLoad">Resolves a persistent id (torch storages).</param>
    public PickleMachine(byte[] data, int start, string path, Func<object?, object?> persistentLoad)
    {
        _data = data;
        _pos = start;
        _path = path;
        _persistentLoad = persistentLoad;
    }

    /// <summary>Offset just after the STOP opcode of the last pickle read (the legacy format stores several in a row).</summary>
    public int Position => _pos;

    /// <summary>Runs the pickle up to STOP and returns its value.</summary>
    public object? Load()
    {
        _stack.Clear();
        _marks.Clear();
        _memo.Clear();
        while (true)
        {
            if (_pos >= _data.Length) throw Fail("the pickle ends before its STOP opcode (file truncated?)");
            int at = _pos;
            byte op = _data[_pos++];
            try
            {
                if (Step(op)) return Pop();
            }
            catch (CheckpointFormatException) { throw; }
            catch (Exception e) when (e is InvalidCastException or ArgumentException or InvalidOperationException
                                          or IndexOutOfRangeException or OverflowException or FormatException or KeyNotFoundException)
            {
                throw Fail($"malformed pickle at byte {at} (opcode 0x{op:x2}): {e.Message}", e);
            }
        }
    }

    private CheckpointFormatException Fail(string reason, Exception? inner = null) => new(_path, reason, inner);

    // Returns true on STOP.
    private bool Step(byte op)
    {
        switch (op)
        {
            case 0x80: ReadBytes(1); break;                                   // PROTO
            case 0x95: ReadBytes(8); break;                                   // FRAME (length only; data is inline)
            case 0x2e: return true;                                           // STOP
            case 0x28: _marks.Push(_stack.Count); break;                      // MARK
            case 0x29: Push(new PickleTuple(Array.Empty<object?>())); break;  // EMPTY_TUPLE
            case 0x5d: Push(new List<object?>()); break;                      // EMPTY_LIST
            case 0x7d: Push(new PickleDict()); break;                         // EMPTY_DICT
            case 0x8f: Push(new PickleSet()); break;                          // EMPTY_SET
            case 0x90: { var items = PopMark(); (Peek() as PickleSet ?? throw Fail("ADDITEMS on a non-set")).Items.AddRange(items); break; } // ADDITEMS
            case 0x91: { var s = new PickleSet(); s.Items.AddRange(PopMark()); Push(s); break; }   // FROZENSET
            case 0x74: Push(new PickleTuple(PopMark().ToArray())); break;     // TUPLE
            case 0x85: { var a = Pop(); Push(new PickleTuple(new[] { a })); break; }                // TUPLE1
            case 0x86: { var b = Pop(); var a = Pop(); Push(new PickleTuple(new[] { a, b })); break; } // TUPLE2
            case 0x87: { var c = Pop(); var b = Pop(); var a = Pop(); Push(new PickleTuple(new[] { a, b, c })); break; } // TUPLE3
            case 0x6c: Push(PopMark()); break;                                // LIST
            case 0x64: { var d = new PickleDict(); var items = PopMark(); for (int i = 0; i + 1 < items.Count; i += 2) d.Set(items[i], items[i + 1]); Push(d); break; } // DICT
            case 0x61: { var v = Pop(); AsList(Peek()).Add(v); break; }       // APPEND
            case 0x65: { var items = PopMark(); AsList(Peek()).AddRange(items); break; } // APPENDS
            case 0x73: { var v = Pop(); var k = Pop(); AsDict(Peek()).Set(k, v); break; } // SETITEM
            case 0x75:                                                        // SETITEMS
            {
                var items = PopMark();
                var d = AsDict(Peek());
                if (items.Count % 2 != 0) throw Fail("SETITEMS with an odd number of items");
                for (int i = 0; i < items.Count; i += 2) d.Set(items[i], items[i + 1]);
                break;
            }
            case 0x4e: Push(null); break;                                     // NONE
            case 0x88: Push(true); break;                                     // NEWTRUE
            case 0x89: Push(false); break;                                    // NEWFALSE
            case 0x4a: Push((long)BinaryPrimitives.ReadInt32LittleEndian(ReadBytes(4))); break;   // BININT
            case 0x4b: Push((long)ReadBytes(1)[0]); break;                    // BININT1
            case 0x4d: Push((long)BinaryPrimitives.ReadUInt16LittleEndian(ReadBytes(2))); break; // BININT2
            case 0x8a: Push(ReadLong(ReadBytes(1)[0])); break;                // LONG1
            case 0x8b: Push(ReadLong(CheckedLength(BinaryPrimitives.ReadInt32LittleEndian(ReadBytes(4))))); break; // LONG4
            case 0x49:                                                        // INT (text)
            {
                var line = ReadLine();
                if (line == "00") Push(false);
                else if (line == "01") Push(true);
                else Push(long.Parse(line, CultureInfo.InvariantCulture));
                break;
            }
            case 0x4c: Push(Normalize(BigInteger.Parse(ReadLine().TrimEnd('L'), CultureInfo.InvariantCulture))); break; // LONG (text)
            case 0x47: Push(BinaryPrimitives.ReadDoubleBigEndian(ReadBytes(8))); break;  // BINFLOAT
            case 0x46: Push(double.Parse(ReadLine(), CultureInfo.InvariantCulture)); break; // FLOAT (text)
            case 0x58: Push(Encoding.UTF8.GetString(ReadBytes(CheckedLength(BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4)))))); break; // BINUNICODE
            case 0x8c: Push(Encoding.UTF8.GetString(ReadBytes(ReadBytes(1)[0]))); break; // SHORT_BINUNICODE
            case 0x8d: Push(Encoding.UTF8.GetString(ReadBytes(CheckedLength(BinaryPrimitives.ReadUInt64LittleEndian(ReadBytes(8)))))); break; // BINUNICODE8
            case 0x56: Push(RawUnicodeEscape(ReadLine())); break;             // UNICODE (text)
            case 0x54: Push(Encoding.Latin1.GetString(ReadBytes(CheckedLength(BinaryPrimitives.ReadInt32LittleEndian(ReadBytes(4)))))); break; // BINSTRING
            case 0x55: Push(Encoding.Latin1.GetString(ReadBytes(ReadBytes(1)[0]))); break; // SHORT_BINSTRING
            case 0x53: Push(Unquote(ReadLine())); break;                      // STRING (text repr)
            case 0x42: Push(ReadBytes(CheckedLength(BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4)))).ToArray()); break; // BINBYTES
            case 0x43: Push(ReadBytes(ReadBytes(1)[0]).ToArray()); break;     // SHORT_BINBYTES
            case 0x8e:                                                        // BINBYTES8
            case 0x96: Push(ReadBytes(CheckedLength(BinaryPrimitives.ReadUInt64LittleEndian(ReadBytes(8)))).ToArray()); break; // BYTEARRAY8
            case 0x63:                                                        // GLOBAL
            {
                var module = ReadLine();
                var name = ReadLine();
                Push(Resolve(module, name));
                break;
            }
            case 0x93:                                                        // STACK_GLOBAL
            {
                var name = Pop() as string ?? throw Fail("STACK_GLOBAL expects two strings");
                var module = Pop() as string ?? throw Fail("STACK_GLOBAL expects two strings");
                Push(Resolve(module, name));
                break;
            }
            case 0x52: { var args = Pop(); var callable = Pop(); Push(Call(callable, AsTuple(args))); break; } // REDUCE
            case 0x81: { var args = Pop(); var cls = Pop(); Push(Call(cls, AsTuple(args))); break; }           // NEWOBJ
            case 0x92: { Pop(); var args = Pop(); var cls = Pop(); Push(Call(cls, AsTuple(args))); break; }    // NEWOBJ_EX (kwargs ignored)
            case 0x69:                                                        // INST (protocol 0): class from the stream, args from the mark
            {
                var cls = Resolve(ReadLine(), ReadLine());
                Push(Call(cls, PopMark().ToArray()));
                break;
            }
            case 0x6f:                                                        // OBJ (protocol 1)
            {
                var items = PopMark();
                if (items.Count == 0) throw Fail("OBJ without a class");
                Push(Call(items[0], items.Skip(1).ToArray()));
                break;
            }
            case 0x62: { var state = Pop(); Build(Peek(), state); break; }    // BUILD
            case 0x51: Push(_persistentLoad(Pop())); break;                   // BINPERSID
            case 0x50: Push(_persistentLoad(ReadLine())); break;              // PERSID
            case 0x71: _memo[ReadBytes(1)[0]] = Peek(); break;                // BINPUT
            case 0x72: _memo[BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4))] = Peek(); break; // LONG_BINPUT
            case 0x70: _memo[long.Parse(ReadLine(), CultureInfo.InvariantCulture)] = Peek(); break; // PUT
            case 0x94: _memo[_memo.Count] = Peek(); break;                    // MEMOIZE
            case 0x68: Push(Memo(ReadBytes(1)[0])); break;                    // BINGET
            case 0x6a: Push(Memo(BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4)))); break; // LONG_BINGET
            case 0x67: Push(Memo(long.Parse(ReadLine(), CultureInfo.InvariantCulture))); break; // GET
            case 0x30: Pop(); break;                                          // POP
            case 0x31: PopMark(); break;                                      // POP_MARK
            case 0x32: Push(Peek()); break;                                   // DUP
            case 0x82:
            case 0x83:
            case 0x84:
                // EXT1/2/4 name globals through Python's copyreg extension registry; we cannot check what they
                // resolve to, so they are refused like any non-allow-listed global.
                throw new UnsafePickleException(_path, "copyreg extension code (EXT opcode)");
            default:
                throw Fail($"unsupported pickle opcode 0x{op:x2} at byte {_pos - 1}");
        }
        return false;
    }

    private object? Resolve(string module, string name)
    {
        var global = PickleAllowList.Resolve(module, name);
        return global ?? throw new UnsafePickleException(_path, $"{module}.{name}");
    }

    // The only "calls" a pickle can make: each allowed global has a fixed meaning, nothing user-defined runs.
    private object? Call(object? callable, object?[] args)
    {
        if (callable is not PickleGlobal g)
            throw Fail($"the pickle calls a value that is not an allowed global ({Describe(callable)})");
        switch (g.Kind)
        {
            case GlobalKind.OrderedDict:
            {
                var d = new PickleDict();
                if (args.Length > 0 && args[0] is not null)
                    foreach (var p in AsTuple(args[0]))
                    {
                        var kv = p is PickleTuple t ? t.Items : AsList(p).ToArray();
                        d.Set(kv[0], kv[1]);
                    }
                return d;
            }
            case GlobalKind.Set:
            case GlobalKind.FrozenSet:
            {
                var s = new PickleSet();
                if (args.Length > 0 && args[0] is not null)
                    s.Items.AddRange(args[0] switch
                    {
                        List<object?> l => l,
                        PickleTuple t => t.Items,
                        PickleSet other => other.Items,
                        var other => throw Fail($"set() of {Describe(other)}"),
                    });
                return s;
            }
            case GlobalKind.TorchSize:
                return args.Length == 0 ? new PickleTuple(Array.Empty<object?>()) : new PickleTuple(AsTuple(args[0]));
            case GlobalKind.TorchDevice:
                return string.Join(":", args.Where(a => a is not null));
            case GlobalKind.RebuildTensorV2:
            {
                // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
                // and the older _rebuild_tensor(storage, storage_offset, size, stride).
                if (args.Length < 4 || args[0] is not StorageRef storage)
                    throw Fail($"{g.FullName} called with unexpected arguments ({args.Length} args)");
                var size = AsTuple(args[2]).Select(ToLong).ToArray();
                var stride = AsTuple(args[3]).Select(ToLong).ToArray();
                if (size.Length != stride.Length) throw Fail($"{g.FullName}: size and stride have different lengths");
                return new TensorStub(storage, ToLong(args[1]), size, stride, args.Length > 4 && args[4] is true);
            }
            case GlobalKind.RebuildParameter:
            case GlobalKind.RebuildParameterWithState:
            {
                if (args.Length < 1 || args[0] is not TensorStub data)
                    throw Fail($"{g.FullName} called without a tensor");
                data.IsParameter = true;
                return data;
            }
            case GlobalKind.RebuildFromTypeV2:
            {
                // _rebuild_from_type_v2(func, new_type, args, state): func must itself be an allowed rebuild function.
                if (args.Length < 3) throw Fail($"{g.FullName} called with {args.Length} args");
                var inner = Call(args[0], AsTuple(args[2]));
                if (inner is TensorStub t && args[1] is PickleGlobal { Name: "Parameter" }) t.IsParameter = true;
                return inner;
            }
            case GlobalKind.Reconstructor:
            {
                // copyreg._reconstructor(cls, base, state): protocol 0/1 object creation.
                if (args.Length < 1 || args[0] is not PickleGlobal { Kind: GlobalKind.ModuleClass } cls)
                    throw Fail($"{g.FullName} called for {(args.Length > 0 ? Describe(args[0]) : "nothing")}");
                return new PickleObject(cls, Array.Empty<object?>());
            }
            case GlobalKind.ModuleClass:
                return new PickleObject(g, args);
            default:
                throw Fail($"the pickle calls '{g.FullName}', which may be referenced but not called");
        }
    }

    private void Build(object? target, object? state)
    {
        switch (target)
        {
            case PickleObject o:
                o.State = state;
                break;
            case PickleDict d:
                d.Attributes = state switch
                {
                    PickleDict s => s,
                    PickleTuple { Count: 2 } t => t[0] as PickleDict ?? t[1] as PickleDict,
                    _ => null,
                };
                break;
            case TensorStub:
            case PickleSet:
            case List<object?>:
                break; // Python-level attributes on tensors/containers carry nothing we need.
            default:
                throw Fail($"BUILD on {Describe(target)}");
        }
    }

    private object? Memo(long key) =>
        _memo.TryGetValue(key, out var v) ? v : throw Fail($"the pickle reads memo entry {key}, which was never stored");

    private void Push(object? v) => _stack.Add(v);

    private object? Pop()
    {
        if (_stack.Count == 0 || (_marks.Count > 0 && _stack.Count <= _marks.Peek()))
            throw Fail("pickle stack underflow");
        var v = _stack[^1];
        _stack.RemoveAt(_stack.Count - 1);
        return v;
    }

    private object? Peek() => _stack.Count > 0 ? _stack[^1] : throw Fail("pickle stack underflow");

    private List<object?> PopMark()
    {
        if (_marks.Count == 0) throw Fail("pickle has no MARK to pop to");
        int m = _marks.Pop();
        if (m > _stack.Count) throw Fail("pickle MARK lies above the stack top");
        var items = _stack.GetRange(m, _stack.Count - m);
        _stack.RemoveRange(m, _stack.Count - m);
        return items;
    }

    private ReadOnlySpan<byte> ReadBytes(int n)
    {
        if (n < 0 || n > _data.Length - _pos) throw Fail("the pickle ends in the middle of an opcode (file truncated?)");
        var s = new ReadOnlySpan<byte>(_data, _pos, n);
        _pos += n;
        return s;
    }

    private int CheckedLength(long n)
    {
        if (n < 0 || n > _data.Length - _pos) throw Fail($"the pickle declares {n} bytes but only {_data.Length - _pos} remain (file truncated?)");
        return (int)n;
    }

    private int CheckedLength(ulong n) => n > int.MaxValue ? CheckedLength(-1L) : CheckedLength((long)n);

    private string ReadLine()
    {
        int end = Array.IndexOf(_data, (byte)'\n', _pos);
        if (end < 0) throw Fail("the pickle ends in the middle of a text opcode (file truncated?)");
        var s = Encoding.Latin1.GetString(_data, _pos, end - _pos);
        _pos = end + 1;
        return s.EndsWith('\r') ? s[..^1] : s;
    }

    private object ReadLong(int n)
    {
        var bytes = ReadBytes(n);
        if (n == 0) return 0L;
        return Normalize(new BigInteger(bytes, isUnsigned: false, isBigEndian: false));
    }

    private static object Normalize(BigInteger v) => v >= long.MinValue && v <= long.MaxValue ? (long)v : v;

    private static string RawUnicodeEscape(string s)
    {
        if (!s.Contains("\\u", StringComparison.Ordinal) && !s.Contains("\\U", StringComparison.Ordinal)) return s;
        var sb = new StringBuilder();
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\' && i + 5 < s.Length && s[i + 1] == 'u')
            {
                sb.Append((char)int.Parse(s.AsSpan(i + 2, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                i += 5;
            }
            else if (s[i] == '\\' && i + 9 < s.Length && s[i + 1] == 'U')
            {
                sb.Append(char.ConvertFromUtf32(int.Parse(s.AsSpan(i + 2, 8), NumberStyles.HexNumber, CultureInfo.InvariantCulture)));
                i += 9;
            }
            else sb.Append(s[i]);
        }
        return sb.ToString();
    }

    private string Unquote(string s)
    {
        if (s.Length >= 2 && (s[0] == '\'' || s[0] == '"') && s[^1] == s[0])
            return System.Text.RegularExpressions.Regex.Unescape(s[1..^1]);
        throw Fail("STRING opcode without quotes");
    }

    private object?[] AsTuple(object? v) => v switch
    {
        PickleTuple t => t.Items,
        List<object?> l => l.ToArray(),
        _ => throw Fail($"expected a tuple, found {Describe(v)}"),
    };

    private List<object?> AsList(object? v) => v as List<object?> ?? throw Fail($"expected a list, found {Describe(v)}");

    private PickleDict AsDict(object? v) => v as PickleDict ?? throw Fail($"expected a dict, found {Describe(v)}");

    private long ToLong(object? v) => v switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        _ => throw Fail($"expected an integer, found {Describe(v)}"),
    };

    internal static string Describe(object? v) => v switch
    {
        null => "None",
        PickleGlobal g => g.FullName,
        PickleObject o => $"a {o.Type.FullName} object",
        PickleDict => "a dict",
        PickleTuple => "a tuple",
        List<object?> => "a list",
        TensorStub => "a tensor",
        StorageRef => "a storage",
        _ => v.GetType().Name,
    };
}
