      *================================================================*
      * LNREPAY  NIGHTLY LOAN REPAYMENT EXTRACT OF THE CORE BANKING SYSTEM
      *          DATASET LNREPAY.D<YYMMDD>, CODE PAGE 037 (EBCDIC)
      *          RECFM=FB: EVERY RECORD HAS THE DETAIL RECORD'S LENGTH;
      *          HEADER AND TRAILER ARE PADDED WITH EBCDIC SPACES (X'40').
      *          ONE HEADER, N DETAILS, ONE TRAILER. NO LINE SEPARATORS.
      *          TRL-HASH-TOTAL = SUM OF DTL-PRINCIPAL-PAID + DTL-INTEREST-PAID
      *          OVER EVERY DETAIL RECORD.
      *================================================================*
       01  LNREPAY-HEADER.
           05  HDR-REC-TYPE            PIC X(1).
           05  HDR-BUSINESS-DATE       PIC 9(8).
           05  HDR-BANK-CODE           PIC X(6).
           05  FILLER                  PIC X(72).
       01  LNREPAY-DETAIL.
           05  DTL-REC-TYPE            PIC X(1).
           05  DTL-LOAN-ACCOUNT        PIC X(20).
           05  DTL-CUSTOMER-NO         PIC 9(12).
           05  DTL-INSTALLMENT-NO      PIC 9(3).
           05  DTL-DUE-DATE            PIC 9(8).
           05  DTL-PRINCIPAL-DUE       PIC S9(13)V99 COMP-3.
           05  DTL-INTEREST-DUE        PIC S9(13)V99 COMP-3.
           05  DTL-PRINCIPAL-PAID      PIC S9(13)V99 COMP-3.
           05  DTL-INTEREST-PAID       PIC S9(13)V99 COMP-3.
           05  DTL-PAID-DATE           PIC 9(8).
           05  DTL-DAYS-PAST-DUE       PIC S9(4) COMP.
           05  DTL-STATUS              PIC X(1).
      *        STATUS: P PAID ON TIME, L PAID LATE, A PARTIALLY PAID,
      *                M MISSED (OVERDUE), D DUE (NOT YET DUE ON THE DATE)
       01  LNREPAY-TRAILER.
           05  TRL-REC-TYPE            PIC X(1).
           05  TRL-RECORD-COUNT        PIC 9(9).
           05  TRL-HASH-TOTAL          PIC S9(15)V99 COMP-3.
           05  FILLER                  PIC X(68).
